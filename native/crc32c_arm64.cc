// aarch64 CRC32C: the ARMv8 CRC32C instructions over three stripes, combined in software
// (a 32-step GF(2) multiply per stripe, amortised over blocks of at least 3 x 256 bytes).
// Built only for aarch64 with GCC or Clang; crc32c.cc calls it only when the CPU reports the
// CRC32 extension.
#include "crc32c.h"

#if defined(DURABILITY_CRC_ARM64)

#include <cstring>

#include "crc32c_math.h"

#if defined(__clang__)
#define DURABILITY_TARGET_CRC __attribute__((target("crc")))
#define DURABILITY_CRC32CB(c, v) __builtin_arm_crc32cb((c), (v))
#define DURABILITY_CRC32CD(c, v) __builtin_arm_crc32cd((c), (v))
#else
#include <arm_acle.h>
#define DURABILITY_TARGET_CRC __attribute__((target("+crc")))
#define DURABILITY_CRC32CB(c, v) __crc32cb((c), (v))
#define DURABILITY_CRC32CD(c, v) __crc32cd((c), (v))
#endif

namespace durability {
namespace {

constexpr StripeShifts kShifts = MakeStripeShifts();
constexpr size_t kThreeWayMin = 3 * 256;

}  // namespace

DURABILITY_TARGET_CRC uint32_t Crc32cArmv8(uint32_t crc, const uint8_t* p, size_t n) {
  uint32_t c = ~crc;
  while (n >= kThreeWayMin) {
    size_t words = n / 24;
    if (words > kMaxStripeWords) words = kMaxStripeWords;
    const size_t stripe = words * 8;
    uint32_t c0 = c, c1 = 0, c2 = 0;
    for (size_t i = 0; i < stripe; i += 8) {
      c0 = DURABILITY_CRC32CD(c0, Load64(p + i));
      c1 = DURABILITY_CRC32CD(c1, Load64(p + stripe + i));
      c2 = DURABILITY_CRC32CD(c2, Load64(p + 2 * stripe + i));
    }
    c = MulModP(c0, kShifts.two[words]) ^ MulModP(c1, kShifts.one[words]) ^ c2;
    p += 3 * stripe;
    n -= 3 * stripe;
  }
  for (; n >= 8; n -= 8, p += 8) c = DURABILITY_CRC32CD(c, Load64(p));
  for (; n > 0; --n) c = DURABILITY_CRC32CB(c, *p++);
  return ~c;
}

}  // namespace durability

#endif  // DURABILITY_CRC_ARM64
