#include "crc32c.h"

#include "cpu.h"

namespace durability {
namespace {

using Kernel = uint32_t (*)(uint32_t, const uint8_t*, size_t);

struct Choice {
  Kernel kernel;
  Crc32cImpl impl;
};

Choice Choose() {
  const CpuFeatures& cpu = Cpu();
#if defined(__x86_64__)
  if (cpu.sse42) return {cpu.pclmul ? &Crc32cSse42 : &Crc32cSse42NoClmul, Crc32cImpl::kSse42};
#endif
#if defined(__aarch64__)
  if (cpu.armCrc32) return {&Crc32cArmv8, Crc32cImpl::kArmv8};
#endif
  (void)cpu;
  return {&Crc32cPortable, Crc32cImpl::kTable};
}

// Plain data, fixed at dlopen time and shared by every thread and environment.
const Choice kChoice = Choose();

}  // namespace

Crc32cImpl ActiveCrc32cImpl() { return kChoice.impl; }

const char* Crc32cImplName(Crc32cImpl impl) {
  switch (impl) {
    case Crc32cImpl::kSse42:
      return "sse42";
    case Crc32cImpl::kArmv8:
      return "armv8";
    case Crc32cImpl::kTable:
      break;
  }
  return "table";
}

uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t len) { return kChoice.kernel(crc, data, len); }

}  // namespace durability
