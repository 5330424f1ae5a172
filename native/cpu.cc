#include "cpu.h"

#include <cstdint>

#if defined(_MSC_VER) && !defined(__clang__) && defined(_M_X64)
#include <immintrin.h>  // _xgetbv
#include <intrin.h>     // __cpuid, __cpuidex
#define DURABILITY_CPU_X86 1
#elif defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define DURABILITY_CPU_X86 1
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace durability {
namespace {

#if defined(DURABILITY_CPU_X86)
// Feature bits, spelled out: older cpuid.h lacks some names, and MSVC has none.
constexpr uint32_t kLeaf1EcxPclmul = 1u << 1;
constexpr uint32_t kLeaf1EcxSse42 = 1u << 20;
constexpr uint32_t kLeaf1EcxOsxsave = 1u << 27;
constexpr uint32_t kLeaf7EbxAvx2 = 1u << 5;
constexpr uint32_t kLeaf7EcxVpclmulqdq = 1u << 10;

/** cpuid(leaf, subleaf) into eax..edx; false when the CPU does not have that leaf. */
bool Cpuid(uint32_t leaf, uint32_t subleaf, uint32_t r[4]) {
#if defined(_MSC_VER) && !defined(__clang__)
  int regs[4];
  __cpuid(regs, 0);
  if (static_cast<uint32_t>(regs[0]) < leaf) return false;
  __cpuidex(regs, static_cast<int>(leaf), static_cast<int>(subleaf));
  for (int i = 0; i < 4; ++i) r[i] = static_cast<uint32_t>(regs[i]);
  return true;
#else
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(leaf, subleaf, &a, &b, &c, &d)) return false;
  r[0] = a, r[1] = b, r[2] = c, r[3] = d;
  return true;
#endif
}

/** XCR0 via xgetbv, only valid once cpuid reports OSXSAVE. */
uint64_t Xcr0() {
#if defined(_MSC_VER) && !defined(__clang__)
  return _xgetbv(0);
#else
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t{hi} << 32) | lo;
#endif
}
#endif

CpuFeatures Detect() {
  CpuFeatures f;
#if defined(DURABILITY_CPU_X86)
  uint32_t r[4];
  if (!Cpuid(1, 0, r)) return f;
  const uint32_t ecx = r[2];
  f.sse42 = (ecx & kLeaf1EcxSse42) != 0;
  f.pclmul = (ecx & kLeaf1EcxPclmul) != 0;
  // A CPU may have AVX2 while the kernel does not save YMM registers (XCR0 bits 1 and 2).
  const bool ymmSaved = (ecx & kLeaf1EcxOsxsave) != 0 && (Xcr0() & 0x6) == 0x6;
  if (ymmSaved && Cpuid(7, 0, r)) f.avx2Vpclmul = (r[1] & kLeaf7EbxAvx2) != 0 && (r[2] & kLeaf7EcxVpclmulqdq) != 0;
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
