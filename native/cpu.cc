#include "cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace durability {
namespace {

CpuFeatures Detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
    f.sse42 = (ecx & bit_SSE4_2) != 0;
    f.pclmul = (ecx & bit_PCLMUL) != 0;
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
