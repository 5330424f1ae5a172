// x86_64 CRC32C for CPUs with AVX2 + VPCLMULQDQ (Ice Lake, Zen 3 and later). Each block is
// split into a vector region, folded 128 bytes per step by four 256-bit carry-less-multiply
// accumulators, and three scalar stripes on the CRC32 instruction; the two kinds of work use
// different execution units, so they run side by side (on Zen 3: ~1.5x the three-stream kernel
// alone). The folded region reduces to a CRC with two CRC32 instructions, and everything is
// recombined into the last word of the third stripe with carry-less multiplies. Whatever is left
// after the last full block goes to the three-stream kernel. GCC and Clang only (crc32c.h).
#include "crc32c.h"

#if defined(DURABILITY_CRC_VPCLMUL)

#include <immintrin.h>

#include <array>
#include <cstring>

#include "crc32c_math.h"

#define DURABILITY_TARGET_VPCLMUL DURABILITY_TARGET("sse4.2,pclmul,avx2,vpclmulqdq")

namespace durability {
namespace {

constexpr size_t kVectorStep = 128;   // bytes folded per loop step (4 x 32)
constexpr size_t kStripeWords = 6;    // 8-byte words per scalar stripe per loop step (tuned on Zen 3)
constexpr size_t kStep = kVectorStep + 3 * 8 * kStripeWords;
constexpr size_t kMaxSteps = 256;     // block <= 68 KiB: bounds the shift tables
constexpr size_t kMinSteps = 8;       // below this the reductions outweigh the gain

/** clmul constant for multiplying by x^k: x^(k-33) mod P (see MakeClmulStripeShifts). */
constexpr uint32_t ClmulShift(uint64_t bits) { return XPowModP(bits - 33); }

struct BlockShifts {
  // For a block of `steps` steps, with stripe length s = 8 * kStripeWords * steps bytes:
  // one/two/three[steps] shift a CRC over 1, 2 or 3 stripes.
  std::array<uint32_t, kMaxSteps + 1> one{}, two{}, three{};
};

constexpr BlockShifts MakeBlockShifts() {
  BlockShifts t;
  const uint64_t stripeBitsPerStep = 64 * kStripeWords;
  const uint32_t x1 = XPowModP(stripeBitsPerStep), x2 = XPowModP(2 * stripeBitsPerStep),
                 x3 = XPowModP(3 * stripeBitsPerStep);
  uint32_t one = ClmulShift(stripeBitsPerStep), two = ClmulShift(2 * stripeBitsPerStep),
           three = ClmulShift(3 * stripeBitsPerStep);
  for (size_t i = 1; i <= kMaxSteps; ++i) {
    t.one[i] = one;
    t.two[i] = two;
    t.three[i] = three;
    one = MulModP(one, x1);
    two = MulModP(two, x2);
    three = MulModP(three, x3);
  }
  return t;
}

constexpr BlockShifts kShifts = MakeBlockShifts();

DURABILITY_TARGET_VPCLMUL inline uint64_t ClMul(uint64_t crc, uint32_t shift) {
  const __m128i product = _mm_clmulepi64_si128(_mm_cvtsi64_si128(static_cast<long long>(crc)),
                                               _mm_cvtsi32_si128(static_cast<int>(shift)), 0x00);
  return static_cast<uint64_t>(_mm_cvtsi128_si64(product));
}

// A 128-bit lane A = L*x^64 + H (L = low quadword, bit-reflected). Advancing it over d bits:
// A*x^d = L*x^(d+64) + H*x^d, two carry-less multiplies with constants (lo: d+64, hi: d).
DURABILITY_TARGET_VPCLMUL inline __m128i Fold128(__m128i a, __m128i k) {
  return _mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x00), _mm_clmulepi64_si128(a, k, 0x11));
}

DURABILITY_TARGET_VPCLMUL inline __m256i Fold256(__m256i a, __m256i k) {
  return _mm256_xor_si256(_mm256_clmulepi64_epi128(a, k, 0x00), _mm256_clmulepi64_epi128(a, k, 0x11));
}

DURABILITY_TARGET_VPCLMUL inline __m256i Load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

}  // namespace

DURABILITY_TARGET_VPCLMUL uint32_t Crc32cVpclmul(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = ~crc;
  c &= 0xFFFFFFFFu;
  const __m256i kFoldStep = _mm256_set_epi64x(ClmulShift(1024), ClmulShift(1088), ClmulShift(1024), ClmulShift(1088));
  const __m128i kFoldLane = _mm_set_epi64x(ClmulShift(128), ClmulShift(192));
  while (n >= kMinSteps * kStep) {
    const size_t steps = n / kStep < kMaxSteps ? n / kStep : kMaxSteps;
    const size_t stripe = 8 * kStripeWords * steps;
    const uint8_t* v = p;
    const uint8_t* q = p + kVectorStep * steps;  // stripes follow the vector region

    // The running CRC enters as the first 4 bytes of the message (xor), as a CRC register would.
    __m256i a0 = _mm256_xor_si256(Load256(v), _mm256_zextsi128_si256(_mm_cvtsi32_si128(static_cast<int>(c))));
    __m256i a1 = Load256(v + 32), a2 = Load256(v + 64), a3 = Load256(v + 96);
    v += kVectorStep;
    uint64_t c0 = 0, c1 = 0, c2 = 0;
    for (size_t i = 1; i < steps; ++i) {
      a0 = _mm256_xor_si256(Fold256(a0, kFoldStep), Load256(v));
      a1 = _mm256_xor_si256(Fold256(a1, kFoldStep), Load256(v + 32));
      a2 = _mm256_xor_si256(Fold256(a2, kFoldStep), Load256(v + 64));
      a3 = _mm256_xor_si256(Fold256(a3, kFoldStep), Load256(v + 96));
      v += kVectorStep;
      for (size_t j = 0; j < kStripeWords; ++j, q += 8) {
        c0 = _mm_crc32_u64(c0, Load64(q));
        c1 = _mm_crc32_u64(c1, Load64(q + stripe));
        c2 = _mm_crc32_u64(c2, Load64(q + 2 * stripe));
      }
    }
    for (size_t j = 0; j < kStripeWords; ++j, q += 8) {
      c0 = _mm_crc32_u64(c0, Load64(q));
      c1 = _mm_crc32_u64(c1, Load64(q + stripe));
      if (j + 1 < kStripeWords) c2 = _mm_crc32_u64(c2, Load64(q + 2 * stripe));
    }
    q -= 8;  // the last word of stripe 0; stripe 2's last word is still unread

    // Eight 16-byte lanes in message order, folded into one; two CRC32 steps reduce it mod P.
    const __m128i lanes[8] = {_mm256_castsi256_si128(a0), _mm256_extracti128_si256(a0, 1),
                              _mm256_castsi256_si128(a1), _mm256_extracti128_si256(a1, 1),
                              _mm256_castsi256_si128(a2), _mm256_extracti128_si256(a2, 1),
                              _mm256_castsi256_si128(a3), _mm256_extracti128_si256(a3, 1)};
    __m128i lane = lanes[0];
    for (size_t l = 1; l < 8; ++l) lane = _mm_xor_si128(Fold128(lane, kFoldLane), lanes[l]);
    const uint64_t vectorCrc = _mm_crc32_u64(_mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(lane))),
                                             static_cast<uint64_t>(_mm_extract_epi64(lane, 1)));

    const uint64_t tail = Load64(q + 2 * stripe) ^ ClMul(vectorCrc, kShifts.three[steps]) ^
                          ClMul(c0, kShifts.two[steps]) ^ ClMul(c1, kShifts.one[steps]);
    c = _mm_crc32_u64(c2, tail);
    p += kVectorStep * steps + 3 * stripe;
    n -= kVectorStep * steps + 3 * stripe;
  }
  return Crc32cSse42(~static_cast<uint32_t>(c), p, n);
}

}  // namespace durability

#endif  // DURABILITY_CRC_VPCLMUL
