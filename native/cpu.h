// What this CPU can do, asked once at run time, so one binary runs on every x86_64 / aarch64.
#pragma once

namespace durability {

struct CpuFeatures {
  bool sse42 = false;       // x86: CRC32 instruction
  bool pclmul = false;      // x86: 128-bit carry-less multiply
  bool avx2Vpclmul = false; // x86: AVX2 + 256-bit VPCLMULQDQ, with the OS saving YMM state
  bool armCrc32 = false;    // aarch64: CRC32C instructions
};

const CpuFeatures& Cpu();

}  // namespace durability
