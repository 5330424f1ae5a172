#include "crc32c.h"

#include <cstring>

#include "cpu.h"

namespace durability {
namespace {

constexpr size_t kMaxKernels = 5;

struct Registry {
  Crc32cKernel kernels[kMaxKernels];
  size_t count = 0;

  void Add(bool supported, const Crc32cKernel& k) {
    if (supported && count < kMaxKernels) kernels[count++] = k;
  }
};

Registry Detect() {
  const CpuFeatures& cpu = Cpu();
  Registry r;
#if defined(DURABILITY_CRC_VPCLMUL)
  r.Add(cpu.sse42 && cpu.pclmul && cpu.avx2Vpclmul,
        {"sse42+vpclmulqdq", Crc32cImpl::kSse42, &Crc32cVpclmul, &Crc32cSse42Lockstep3});
#endif
#if defined(DURABILITY_CRC_X86)
  r.Add(cpu.sse42 && cpu.pclmul, {"sse42+pclmul", Crc32cImpl::kSse42, &Crc32cSse42, &Crc32cSse42Lockstep3});
  r.Add(cpu.sse42, {"sse42", Crc32cImpl::kSse42, &Crc32cSse42NoClmul, &Crc32cSse42Lockstep3});
#endif
#if defined(DURABILITY_CRC_ARM64)
  r.Add(cpu.armCrc32, {"armv8", Crc32cImpl::kArmv8, &Crc32cArmv8, nullptr});
#endif
  (void)cpu;
  r.Add(true, {"table", Crc32cImpl::kTable, &Crc32cPortable, nullptr});
  return r;
}

// Plain data, fixed at dlopen time and shared by every thread and environment.
const Registry kRegistry = Detect();
const Crc32cFn kActive = kRegistry.kernels[0].fn;

}  // namespace

const Crc32cKernel* Crc32cKernels(size_t* count) {
  *count = kRegistry.count;
  return kRegistry.kernels;
}

const Crc32cKernel* FindCrc32cKernel(const char* name) {
  for (size_t i = 0; i < kRegistry.count; ++i) {
    if (std::strcmp(kRegistry.kernels[i].name, name) == 0) return &kRegistry.kernels[i];
  }
  return nullptr;
}

const Crc32cKernel& ActiveCrc32cKernel() { return kRegistry.kernels[0]; }

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

uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t len) { return kActive(crc, data, len); }

}  // namespace durability
