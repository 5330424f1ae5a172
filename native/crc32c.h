// CRC32C (Castagnoli): standard init/xorout, unmasked. `crc` continues a previous result
// (0 to start), so crc32c(b, crc32c(a)) == crc32c(a || b).
#pragma once

#include <cstddef>
#include <cstdint>

// Which hardware kernels this compiler builds. GCC and Clang compile each kernel with
// per-function target attributes, so one binary runs on any CPU of the architecture. MSVC has
// the x86 intrinsics without such attributes and without them emits nothing unasked, so it
// builds the SSE4.2 kernels too; the AVX2 kernel would need /arch:AVX2 for its whole file
// (letting the compiler use AVX2 in shared inline code), so MSVC builds go without it.
#if defined(__x86_64__) || defined(_M_X64)
#define DURABILITY_CRC_X86 1
#if defined(__GNUC__) || defined(__clang__)
#define DURABILITY_CRC_VPCLMUL 1
#endif
#endif
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define DURABILITY_CRC_ARM64 1
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DURABILITY_TARGET(features) __attribute__((target(features)))
#else
#define DURABILITY_TARGET(features)
#endif

namespace durability {

enum class Crc32cImpl { kSse42, kArmv8, kTable };

using Crc32cFn = uint32_t (*)(uint32_t crc, const uint8_t* data, size_t len);
/**
 * Three independent CRCs (each continuing from its crc[i]) of three short buffers, computed in
 * lockstep. A short buffer is one latency-bound chain; three interleaved chains fill the
 * pipeline, which is what a batch of small WAL frames needs. Meant for lengths up to
 * kLockstepMaxLength; longer buffers are faster through the kernel's own multi-stream code.
 */
using Crc32cLockstep3Fn = void (*)(uint32_t crc[3], const uint8_t* const data[3], const size_t length[3]);
constexpr size_t kLockstepMaxLength = 512;

struct Crc32cKernel {
  const char* name;  // "sse42+vpclmulqdq", "sse42+pclmul", "sse42", "armv8", "table"
  Crc32cImpl impl;   // the family reported by crc32cImpl()
  Crc32cFn fn;
  Crc32cLockstep3Fn lockstep3;  // nullptr: batches run one range at a time
};

/** Every kernel this CPU can run, fastest first; the first one is the one Crc32c uses. */
const Crc32cKernel* Crc32cKernels(size_t* count);
/** A kernel this CPU can run, by name; nullptr if unknown or unsupported here. */
const Crc32cKernel* FindCrc32cKernel(const char* name);
const Crc32cKernel& ActiveCrc32cKernel();
const char* Crc32cImplName(Crc32cImpl impl);

uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t len);
/** Table-driven slicing-by-8; runs anywhere. */
uint32_t Crc32cPortable(uint32_t crc, const uint8_t* data, size_t len);

// Hardware kernels: defined only where built (above), and only safe to call when cpu.h says so.
#if defined(DURABILITY_CRC_VPCLMUL)
uint32_t Crc32cVpclmul(uint32_t crc, const uint8_t* data, size_t len);  // SSE4.2, AVX2, VPCLMULQDQ
#endif
#if defined(DURABILITY_CRC_X86)
uint32_t Crc32cSse42(uint32_t crc, const uint8_t* data, size_t len);         // SSE4.2, PCLMULQDQ
uint32_t Crc32cSse42NoClmul(uint32_t crc, const uint8_t* data, size_t len);  // SSE4.2
void Crc32cSse42Lockstep3(uint32_t crc[3], const uint8_t* const data[3], const size_t length[3]);  // SSE4.2
#endif
#if defined(DURABILITY_CRC_ARM64)
uint32_t Crc32cArmv8(uint32_t crc, const uint8_t* data, size_t len);
#endif

}  // namespace durability
