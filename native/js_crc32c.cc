#include "args.h"
#include "bindings.h"
#include "crc32c.h"
#include "errors.h"

namespace durability {
namespace {

constexpr uint64_t kUint32Max = 0xFFFFFFFFu;

Napi::Value OneBuffer(const Napi::CallbackInfo& info, uint32_t (*kernel)(uint32_t, const uint8_t*, size_t)) {
  Bytes data;
  uint64_t crc;
  if (!ArgBytes(info, 0, "data", &data) || !ArgUint(info, 1, "crc", kUint32Max, 0, &crc)) return Napi::Value();
  return Napi::Number::New(info.Env(), kernel(static_cast<uint32_t>(crc), data.data, data.length));
}

}  // namespace

Napi::Value Crc32cImplJs(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), Crc32cImplName(ActiveCrc32cImpl()));
}

Napi::Value Crc32cJs(const Napi::CallbackInfo& info) { return OneBuffer(info, &Crc32c); }

Napi::Value Crc32cPortableJs(const Napi::CallbackInfo& info) { return OneBuffer(info, &Crc32cPortable); }

// One crossing for a whole batch: the WAL seals many small frames with a single call.
Napi::Value Crc32cRangesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes data;
  uint32_t* ranges;
  size_t rangesLength;
  uint64_t count;
  uint32_t* out;
  size_t outLength;
  uint64_t seed;
  if (!ArgBytes(info, 0, "data", &data) || !ArgUint32Array(info, 1, "ranges", &ranges, &rangesLength) ||
      !ArgUint(info, 2, "count", kUint32Max, -1, &count) || !ArgUint32Array(info, 3, "out", &out, &outLength) ||
      !ArgUint(info, 4, "seed", kUint32Max, -1, &seed)) {
    return Napi::Value();
  }
  if (count > rangesLength / 2) {
    ThrowRangeError(env, "count " + std::to_string(count) + " needs " + std::to_string(2 * count) +
                             " range entries, ranges has " + std::to_string(rangesLength));
    return Napi::Value();
  }
  if (count > outLength) {
    ThrowRangeError(env, "count " + std::to_string(count) + " exceeds out.length " + std::to_string(outLength));
    return Napi::Value();
  }
  // Check every range before writing anything, so a bad batch leaves `out` untouched.
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t start = ranges[2 * i];
    const uint64_t length = ranges[2 * i + 1];
    if (start + length > data.length) {
      ThrowRangeError(env, "range " + std::to_string(i) + " [" + std::to_string(start) + ", +" +
                               std::to_string(length) + ") is outside data of length " + std::to_string(data.length));
      return Napi::Value();
    }
  }
  for (uint64_t i = 0; i < count; ++i) {
    // Re-read and re-check: `out` may alias `ranges`, so an earlier result can rewrite a later range.
    const uint64_t start = ranges[2 * i];
    const uint64_t length = ranges[2 * i + 1];
    if (start + length > data.length) {
      ThrowRangeError(env, "range " + std::to_string(i) + " was overwritten by an earlier result (out aliases ranges)");
      return Napi::Value();
    }
    out[i] = Crc32c(static_cast<uint32_t>(seed), data.data + start, static_cast<size_t>(length));
  }
  return env.Undefined();
}

}  // namespace durability
