// What this CPU can do, asked once at run time, so one binary runs on every x86_64 / aarch64.
#pragma once

namespace durability {

struct CpuFeatures {
  bool sse42 = false;      // x86: CRC32 instruction
  bool pclmul = false;     // x86: carry-less multiply (used to combine parallel CRC streams)
  bool armCrc32 = false;   // aarch64: CRC32C instructions
};

const CpuFeatures& Cpu();

}  // namespace durability
