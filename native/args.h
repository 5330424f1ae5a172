// Argument checks for the raw binding. Each returns false after throwing a TypeError or
// RangeError; the caller returns immediately. Nothing here coerces values (no valueOf or
// toString), so a check cannot be fooled by user code; the only user code that can run is an
// Array element's getter, read by ArgChunks (see there for the order that makes it harmless). The napi_value forms are
// the primitives (one Node-API call on the success path); the CallbackInfo forms wrap them.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "platform.h"

namespace durability {

struct Bytes {
  uint8_t* data = nullptr;
  size_t length = 0;
};

/** An integer in [min, max] (TypeError if not a number, RangeError otherwise). */
bool IntegerArg(napi_env env, napi_value value, const char* name, double min, double max, double* out);
/** Like IntegerArg in [0, 2^32-1]; `fallback` when the value is undefined, if fallback >= 0. */
bool Uint32Arg(napi_env env, napi_value value, const char* name, int64_t fallback, uint32_t* out);
/** Any TypedArray (Buffer, Uint8Array, ...), as bytes; a detached one is empty. */
bool BytesArg(napi_env env, napi_value value, const char* name, Bytes* out);
/** Exactly a Uint32Array. */
bool Uint32ArrayArg(napi_env env, napi_value value, const char* name, uint32_t** data, size_t* length);

/** fd: a non-negative int32. */
bool ArgFd(const Napi::CallbackInfo& info, size_t index, int* out);
/** An offset or length: a non-negative integer <= 2^53-1 no larger than kMaxFileOffset (platform.h). */
bool ArgFileOffset(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t* out);
/** An integer in [0, max]; `fallback` when the argument is undefined and fallback >= 0. */
bool ArgUint(const Napi::CallbackInfo& info, size_t index, const char* name, uint64_t max, int64_t fallback,
             uint64_t* out);
/** An int32 (open flags). */
bool ArgInt32(const Napi::CallbackInfo& info, size_t index, const char* name, int32_t* out);
/** BytesArg; `holder`, when given, receives the object so an async caller can keep it alive. */
bool ArgBytes(const Napi::CallbackInfo& info, size_t index, const char* name, Bytes* out,
              Napi::Object* holder = nullptr);
/** A non-empty string without NUL bytes. */
bool ArgPath(const Napi::CallbackInfo& info, size_t index, const char* name, std::string* out);
/** The most chunks ArgChunks takes: bounds what one call allocates (a handle and an iovec per chunk). */
constexpr uint32_t kMaxChunks = 1u << 20;
/** Most directories one commit may fsync (commitAsync's `dirs`). */
constexpr uint32_t kMaxCommitDirs = 1024;

/**
 * An Array of at most kMaxChunks TypedArrays, flattened into iovecs; `total` is the byte sum.
 * Reading an element can run user code (an index getter, or one on the prototype of a hole) that
 * detaches or frees any chunk, so every element is read before any chunk's bytes are located:
 * callers take the other arguments first, and run no user code between this and the write.
 * `views`, when given, receives the chunks themselves, so an async caller can reference them and
 * a caller mutating its array cannot drop one that the write still reads.
 */
bool ArgChunks(const Napi::CallbackInfo& info, size_t index, const char* name, std::vector<iovec>* iov,
               uint64_t* total, std::vector<napi_value>* views = nullptr);

}  // namespace durability
