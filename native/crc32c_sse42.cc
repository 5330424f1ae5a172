// x86_64 CRC32C: three independent CRC32 instruction streams over three stripes of a block
// (the instruction has a latency of 3 cycles but issues once per cycle), recombined at the end
// of each block. With PCLMULQDQ the recombination is one carry-less multiply per stripe folded
// into the block's last word; without it (pre-2010 cores) a 32-step software multiply, so blocks
// start larger. Compiled with function-level target attributes (GCC, Clang; MSVC needs none) so
// the rest of the addon runs on any x86_64; crc32c.cc calls in only after cpuid says so.
#include "crc32c.h"

#if defined(DURABILITY_CRC_X86)

#include <immintrin.h>

#include <cstring>

#include "crc32c_math.h"

// Both variants share one template compiled for SSE4.2 + PCLMUL; the variant without PCLMUL
// discards (if constexpr) the only code that uses it, and no compiler emits PCLMULQDQ unasked.
#define DURABILITY_TARGET_CRC DURABILITY_TARGET("sse4.2,pclmul")

#if defined(__clang__)
#define DURABILITY_UNROLL4 _Pragma("unroll 4")
#elif defined(__GNUC__)
#define DURABILITY_UNROLL4 _Pragma("GCC unroll 4")
#else
#define DURABILITY_UNROLL4
#endif

namespace durability {
namespace {

constexpr StripeShifts kClmulShifts = MakeClmulStripeShifts();
constexpr StripeShifts kSoftShifts = MakeStripeShifts();

/** A 64-bit value whose crc32_u64 contributes crc * x^k, given shift = x^(k-33) mod P. */
DURABILITY_TARGET_CRC inline uint64_t ClMul(uint64_t crc, uint32_t shift) {
  const __m128i product = _mm_clmulepi64_si128(_mm_cvtsi64_si128(static_cast<long long>(crc)),
                                               _mm_cvtsi32_si128(static_cast<int>(shift)), 0x00);
  return static_cast<uint64_t>(_mm_cvtsi128_si64(product));
}

template <bool kClmul>
DURABILITY_TARGET_CRC inline uint32_t ThreeWay(uint32_t crc, const uint8_t* p, size_t n) {
  // Below this, recombining costs more than the parallel streams save.
  constexpr size_t kThreeWayMin = kClmul ? 192 : 3 * 256;
  uint64_t c = ~crc;
  c &= 0xFFFFFFFFu;
  if (n >= kThreeWayMin) {
    while ((reinterpret_cast<uintptr_t>(p) & 7) != 0) {
      c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
      --n;
    }
    while (n >= kThreeWayMin) {
      size_t words = n / 24;
      if (words > kMaxStripeWords) words = kMaxStripeWords;
      const size_t stripe = words * 8;
      uint64_t c0 = c, c1 = 0, c2 = 0;
      const uint8_t* const last = p + stripe - 8;
      DURABILITY_UNROLL4
      for (; p < last; p += 8) {
        c0 = _mm_crc32_u64(c0, Load64(p));
        c1 = _mm_crc32_u64(c1, Load64(p + stripe));
        c2 = _mm_crc32_u64(c2, Load64(p + 2 * stripe));
      }
      c0 = _mm_crc32_u64(c0, Load64(p));
      c1 = _mm_crc32_u64(c1, Load64(p + stripe));
      if constexpr (kClmul) {
        // Fold stripes 0 and 1 into the final word of stripe 2, shifted over what follows them.
        const uint64_t tail =
            Load64(p + 2 * stripe) ^ ClMul(c0, kClmulShifts.two[words]) ^ ClMul(c1, kClmulShifts.one[words]);
        c = _mm_crc32_u64(c2, tail);
      } else {
        c2 = _mm_crc32_u64(c2, Load64(p + 2 * stripe));
        c = MulModP(static_cast<uint32_t>(c0), kSoftShifts.two[words]) ^
            MulModP(static_cast<uint32_t>(c1), kSoftShifts.one[words]) ^ c2;
      }
      p += 2 * stripe + 8;
      n -= 3 * stripe;
    }
  }
  for (; n >= 8; n -= 8, p += 8) c = _mm_crc32_u64(c, Load64(p));
  for (; n > 0; --n) c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
  return ~static_cast<uint32_t>(c);
}

}  // namespace

DURABILITY_TARGET_CRC uint32_t Crc32cSse42(uint32_t crc, const uint8_t* p, size_t n) { return ThreeWay<true>(crc, p, n); }

DURABILITY_TARGET_CRC uint32_t Crc32cSse42NoClmul(uint32_t crc, const uint8_t* p, size_t n) {
  return ThreeWay<false>(crc, p, n);
}

DURABILITY_TARGET("sse4.2") void Crc32cSse42Lockstep3(uint32_t crc[3], const uint8_t* const data[3],
                                                            const size_t length[3]) {
  uint64_t c0 = ~crc[0] & 0xFFFFFFFFu, c1 = ~crc[1] & 0xFFFFFFFFu, c2 = ~crc[2] & 0xFFFFFFFFu;
  const uint8_t *p0 = data[0], *p1 = data[1], *p2 = data[2];
  size_t common = length[0] < length[1] ? length[0] : length[1];
  if (length[2] < common) common = length[2];
  common &= ~size_t{7};
  for (size_t i = 0; i < common; i += 8) {
    c0 = _mm_crc32_u64(c0, Load64(p0 + i));
    c1 = _mm_crc32_u64(c1, Load64(p1 + i));
    c2 = _mm_crc32_u64(c2, Load64(p2 + i));
  }
  uint64_t c[3] = {c0, c1, c2};
  for (size_t k = 0; k < 3; ++k) {
    const uint8_t* p = data[k] + common;
    size_t n = length[k] - common;
    for (; n >= 8; n -= 8, p += 8) c[k] = _mm_crc32_u64(c[k], Load64(p));
    for (; n > 0; --n) c[k] = _mm_crc32_u8(static_cast<uint32_t>(c[k]), *p++);
    crc[k] = ~static_cast<uint32_t>(c[k]);
  }
}

}  // namespace durability

#endif  // DURABILITY_CRC_X86
