#include "cpu.h"

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace durability {
namespace {

#if defined(__x86_64__) || defined(__i386__)
/** XCR0 via xgetbv, only valid once cpuid reports OSXSAVE. */
uint64_t Xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t{hi} << 32) | lo;
}
#endif

CpuFeatures Detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  f.sse42 = (ecx & bit_SSE4_2) != 0;
  f.pclmul = (ecx & bit_PCLMUL) != 0;
  // A CPU may have AVX2 while the kernel does not save YMM registers (XCR0 bits 1 and 2).
  const bool ymmSaved = (ecx & bit_OSXSAVE) != 0 && (Xcr0() & 0x6) == 0x6;
  unsigned eax7 = 0, ebx7 = 0, ecx7 = 0, edx7 = 0;
  if (ymmSaved && __get_cpuid_count(7, 0, &eax7, &ebx7, &ecx7, &edx7)) {
    f.avx2Vpclmul = (ebx7 & bit_AVX2) != 0 && (ecx7 & bit_VPCLMULQDQ) != 0;
  }
#elif defined(__aarch64__) && defined(__linux__)
  // HWCAP_CRC32 is bit 7 on arm64 Linux; spelled out for old kernel headers.
  f.armCrc32 = (getauxval(AT_HWCAP) & (1UL << 7)) != 0;
#elif defined(__aarch64__) && defined(__APPLE__)
  f.armCrc32 = true;  // every Apple arm64 core implements ARMv8.1 CRC32
#endif
  return f;
}

}  // namespace

const CpuFeatures& Cpu() {
  static const CpuFeatures features = Detect();  // thread-safe one-time init
  return features;
}

}  // namespace durability
