// CRC bindings. These are the hot calls (the WAL checksums every frame), so they are plain
// napi_callbacks: no CallbackInfo, no instance lookup, one Node-API call per argument.
#include <string>

#include "args.h"
#include "bindings.h"
#include "crc32c.h"
#include "errors.h"

namespace durability {
namespace {

napi_value OneBuffer(napi_env env, napi_callback_info info, uint32_t (*kernel)(uint32_t, const uint8_t*, size_t)) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
  Bytes data;
  uint32_t crc;
  if (!BytesArg(env, argv[0], "data", &data) || !Uint32Arg(env, argv[1], "crc", 0, &crc)) return nullptr;
  napi_value result = nullptr;
  napi_create_uint32(env, kernel(crc, data.data, data.length), &result);
  return result;
}

napi_value ThrowRange(napi_env env, const std::string& message) {
  ThrowRangeError(Napi::Env(env), message);
  return nullptr;
}

}  // namespace

napi_value Crc32cImplJs(napi_env env, napi_callback_info) {
  napi_value result = nullptr;
  napi_create_string_utf8(env, Crc32cImplName(ActiveCrc32cKernel().impl), NAPI_AUTO_LENGTH, &result);
  return result;
}

napi_value Crc32cKernelsJs(napi_env env, napi_callback_info) {
  size_t count = 0;
  const Crc32cKernel* kernels = Crc32cKernels(&count);
  napi_value list = nullptr;
  if (napi_create_array_with_length(env, count, &list) != napi_ok) return nullptr;
  for (size_t i = 0; i < count; ++i) {
    napi_value name = nullptr;
    if (napi_create_string_utf8(env, kernels[i].name, NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_set_element(env, list, static_cast<uint32_t>(i), name) != napi_ok) {
      return nullptr;
    }
  }
  return list;
}

// Lets tests and benches run every kernel this CPU supports, not only the one chosen at load.
napi_value Crc32cWithKernelJs(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
  char name[32];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &length) != napi_ok) {
    ThrowTypeError(Napi::Env(env), "The \"kernel\" argument must be of type string");
    return nullptr;
  }
  const Crc32cKernel* kernel = length + 1 < sizeof name ? FindCrc32cKernel(name) : nullptr;
  if (kernel == nullptr) return ThrowRange(env, std::string("no CRC32C kernel \"") + name + "\" on this CPU");
  Bytes data;
  uint32_t crc;
  if (!BytesArg(env, argv[1], "data", &data) || !Uint32Arg(env, argv[2], "crc", 0, &crc)) return nullptr;
  napi_value result = nullptr;
  napi_create_uint32(env, kernel->fn(crc, data.data, data.length), &result);
  return result;
}

napi_value Crc32cJs(napi_env env, napi_callback_info info) { return OneBuffer(env, info, &Crc32c); }

napi_value Crc32cPortableJs(napi_env env, napi_callback_info info) { return OneBuffer(env, info, &Crc32cPortable); }

// One crossing for a whole batch: the WAL seals many small frames with a single call.
napi_value Crc32cRangesJs(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
  Bytes data;
  uint32_t* ranges;
  size_t rangesLength;
  uint32_t count;
  uint32_t* out;
  size_t outLength;
  uint32_t seed;
  if (!BytesArg(env, argv[0], "data", &data) || !Uint32ArrayArg(env, argv[1], "ranges", &ranges, &rangesLength) ||
      !Uint32Arg(env, argv[2], "count", -1, &count) || !Uint32ArrayArg(env, argv[3], "out", &out, &outLength) ||
      !Uint32Arg(env, argv[4], "seed", -1, &seed)) {
    return nullptr;
  }
  if (count > rangesLength / 2) {
    return ThrowRange(env, "count " + std::to_string(count) + " needs " + std::to_string(2ull * count) +
                               " range entries, ranges has " + std::to_string(rangesLength));
  }
  if (count > outLength) {
    return ThrowRange(env, "count " + std::to_string(count) + " exceeds out.length " + std::to_string(outLength));
  }
  // Check every range before writing anything, so a bad batch leaves `out` untouched.
  for (uint32_t i = 0; i < count; ++i) {
    const uint64_t start = ranges[2 * size_t{i}];
    const uint64_t length = ranges[2 * size_t{i} + 1];
    if (start + length > data.length) {
      return ThrowRange(env, "range " + std::to_string(i) + " [" + std::to_string(start) + ", +" +
                                 std::to_string(length) + ") is outside data of length " +
                                 std::to_string(data.length));
    }
  }
  // Re-read and re-check as we go: `out` may alias `ranges`, so an earlier result can rewrite a
  // later range.
  const Crc32cKernel& kernel = ActiveCrc32cKernel();
  auto overwritten = [&](uint32_t i) {
    return ThrowRange(env, "range " + std::to_string(i) + " was overwritten by an earlier result (out aliases ranges)");
  };
  uint32_t i = 0;
  if (kernel.lockstep3 != nullptr) {
    for (; i + 3 <= count; i += 3) {
      const uint8_t* starts[3];
      size_t lengths[3];
      for (uint32_t j = 0; j < 3; ++j) {
        const uint64_t start = ranges[2 * size_t{i + j}];
        const uint64_t length = ranges[2 * size_t{i + j} + 1];
        if (start + length > data.length) return overwritten(i + j);
        starts[j] = data.data + start;
        lengths[j] = static_cast<size_t>(length);
      }
      if (lengths[0] <= kLockstepMaxLength && lengths[1] <= kLockstepMaxLength && lengths[2] <= kLockstepMaxLength) {
        uint32_t crcs[3] = {seed, seed, seed};
        kernel.lockstep3(crcs, starts, lengths);
        for (uint32_t j = 0; j < 3; ++j) out[i + j] = crcs[j];
      } else {
        for (uint32_t j = 0; j < 3; ++j) out[i + j] = kernel.fn(seed, starts[j], lengths[j]);
      }
    }
  }
  for (; i < count; ++i) {
    const uint64_t start = ranges[2 * size_t{i}];
    const uint64_t length = ranges[2 * size_t{i} + 1];
    if (start + length > data.length) return overwritten(i);
    out[i] = kernel.fn(seed, data.data + start, static_cast<size_t>(length));
  }
  napi_value undefined = nullptr;
  napi_get_undefined(env, &undefined);
  return undefined;
}

}  // namespace durability
