// CRC32C (Castagnoli): standard init/xorout, unmasked. `crc` continues a previous result
// (0 to start), so crc32c(b, crc32c(a)) == crc32c(a || b).
#pragma once

#include <cstddef>
#include <cstdint>

namespace durability {

enum class Crc32cImpl { kSse42, kArmv8, kTable };

/** The implementation chosen for this CPU (once, at load). */
Crc32cImpl ActiveCrc32cImpl();
const char* Crc32cImplName(Crc32cImpl impl);

uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t len);
/** Table-driven slicing-by-8; runs anywhere. */
uint32_t Crc32cPortable(uint32_t crc, const uint8_t* data, size_t len);

// Hardware kernels: defined only on their architecture, and only safe to call when cpu.h says so.
#if defined(__x86_64__)
uint32_t Crc32cSse42(uint32_t crc, const uint8_t* data, size_t len);         // needs SSE4.2 and PCLMULQDQ
uint32_t Crc32cSse42NoClmul(uint32_t crc, const uint8_t* data, size_t len);  // needs SSE4.2
#endif
#if defined(__aarch64__)
uint32_t Crc32cArmv8(uint32_t crc, const uint8_t* data, size_t len);
#endif

}  // namespace durability
