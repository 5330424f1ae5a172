// Argument checks for the raw binding. Each returns false after throwing a TypeError or
// RangeError; the caller returns immediately. Nothing here calls back into user JS (no
// valueOf/toString coercion), so a check cannot be re-entered or fooled by a getter.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace durability {

struct Bytes {
  uint8_t* data = nullptr;
  size_t length = 0;
};

/** fd: a non-negative int32. */
bool ArgFd(const Napi::CallbackInfo& info, size_t index, int* out);
/** An offset or length: a non-negative integer <= 2^53-1 that also fits off_t. */
bool ArgFileOffset(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t* out);
/** An integer in [0, max]; `fallback` when the argument is undefined and fallback >= 0. */
bool ArgUint(const Napi::CallbackInfo& info, size_t index, const char* name, uint64_t max, int64_t fallback,
             uint64_t* out);
/** An int32 (open flags). */
bool ArgInt32(const Napi::CallbackInfo& info, size_t index, const char* name, int32_t* out);
/** Any TypedArray (Buffer, Uint8Array, ...), as bytes. */
bool ArgBytes(const Napi::CallbackInfo& info, size_t index, const char* name, Bytes* out, Napi::Object* holder = nullptr);
bool BytesOf(Napi::Env env, Napi::Value value, const char* name, Bytes* out);
/** Exactly a Uint32Array. */
bool ArgUint32Array(const Napi::CallbackInfo& info, size_t index, const char* name, uint32_t** data, size_t* length);
/** A non-empty string without NUL bytes. */
bool ArgPath(const Napi::CallbackInfo& info, size_t index, const char* name, std::string* out);
/** An Array (of chunks). */
bool ArgArray(const Napi::CallbackInfo& info, size_t index, const char* name, Napi::Array* out);

}  // namespace durability

#include <sys/uio.h>

#include <vector>

namespace durability {

/**
 * An Array of TypedArrays, flattened into iovecs. `total` is the byte sum; `holder`, when given,
 * receives a fresh Array of the same chunks, so a caller mutating its array cannot drop one
 * that an async write still reads.
 */
bool ArgChunks(const Napi::CallbackInfo& info, size_t index, const char* name, std::vector<iovec>* iov,
               uint64_t* total, Napi::Array* holder = nullptr);

}  // namespace durability
