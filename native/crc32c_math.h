// GF(2) arithmetic modulo the Castagnoli polynomial, in the bit-reflected representation the
// CRC32C instructions use (bit 31 is x^0, bit 0 is x^31). Everything is constexpr so the
// shift constants the multi-stream kernels need are compile-time tables, not start-up work.
// Also the one unaligned word load the kernels share.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace durability {

constexpr uint32_t kCrc32cPoly = 0x82F63B78u;  // reflected 0x1EDC6F41

/** a(x) * b(x) mod P. */
constexpr uint32_t MulModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t bit = 0x80000000u; bit != 0; bit >>= 1) {
    if (a & bit) product ^= b;
    b = (b & 1) ? (b >> 1) ^ kCrc32cPoly : b >> 1;  // b *= x
  }
  return product;
}

/** x^n mod P. */
constexpr uint32_t XPowModP(uint64_t n) {
  uint32_t result = 0x80000000u;  // x^0
  uint32_t square = 0x40000000u;  // x^1, then x^2, x^4, ...
  while (n != 0) {
    if (n & 1) result = MulModP(result, square);
    square = MulModP(square, square);
    n >>= 1;
  }
  return result;
}

/**
 * Raw CRC registers combine linearly: crc(A || B) = crc(A) * x^(8|B|) xor crc_from_zero(B).
 * Shift advances a register over `bytes` zero bytes in software (used where no carry-less
 * multiply is at hand).
 */
constexpr uint32_t ShiftModP(uint32_t crc, uint64_t bytes) { return MulModP(crc, XPowModP(8 * bytes)); }

// The multi-stream kernels split a block into three equal stripes of 8*i bytes (1 <= i <= kMaxStripeWords).
constexpr size_t kMaxStripeWords = 1024;  // 8 KiB per stripe, 24 KiB per block

struct StripeShifts {
  // one[i] multiplies by x^(64i) (one stripe), two[i] by x^(128i) (two stripes).
  std::array<uint32_t, kMaxStripeWords + 1> one{};
  std::array<uint32_t, kMaxStripeWords + 1> two{};
};

/** one[i] = x^(firstOne + 64(i-1)), two[i] = x^(firstTwo + 128(i-1)): each stripe adds 64 (128) bits. */
constexpr StripeShifts StripeShiftsFrom(uint64_t firstOne, uint64_t firstTwo) {
  StripeShifts s;
  const uint32_t x64 = XPowModP(64);
  const uint32_t x128 = XPowModP(128);
  uint32_t one = XPowModP(firstOne);
  uint32_t two = XPowModP(firstTwo);
  for (size_t i = 1; i <= kMaxStripeWords; ++i) {
    s.one[i] = one;
    s.two[i] = two;
    one = MulModP(one, x64);
    two = MulModP(two, x128);
  }
  return s;
}

/**
 * Constants for the carry-less-multiply combine: clmul(crc, x^(k-33)) is a 64-bit value v with
 * crc32_u64(0, v) == crc * x^k mod P (the product's reflected layout contributes x^1 and the
 * instruction another x^32).
 */
constexpr StripeShifts MakeClmulStripeShifts() { return StripeShiftsFrom(64 - 33, 128 - 33); }

/** Plain multipliers x^(64i) and x^(128i), for combining with MulModP. */
constexpr StripeShifts MakeStripeShifts() { return StripeShiftsFrom(64, 128); }

/** The host-order 64-bit word at p, at any alignment. */
inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace durability
