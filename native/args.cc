#include "args.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "errors.h"

namespace durability {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

const char* TypeName(napi_env env, napi_value value) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return "unknown";
  bool flag = false;
  switch (type) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_boolean:
      return "boolean";
    case napi_number:
      return "number";
    case napi_string:
      return "string";
    case napi_symbol:
      return "symbol";
    case napi_function:
      return "function";
    case napi_external:
      return "external";
    case napi_bigint:
      return "bigint";
    case napi_object:
      if (napi_is_array(env, value, &flag) == napi_ok && flag) return "Array";
      if (napi_is_arraybuffer(env, value, &flag) == napi_ok && flag) return "ArrayBuffer";
      if (napi_is_dataview(env, value, &flag) == napi_ok && flag) return "DataView";
      if (napi_is_typedarray(env, value, &flag) == napi_ok && flag) return "TypedArray";
      return "object";
  }
  return "unknown";
}

bool Expected(napi_env env, napi_value value, const char* name, const char* what) {
  ThrowTypeError(Napi::Env(env), std::string("The \"") + name + "\" argument must be " + what + ". Received type " +
                                     TypeName(env, value));
  return false;
}

bool IsUndefined(napi_env env, napi_value value) {
  napi_valuetype type;
  return napi_typeof(env, value, &type) == napi_ok && type == napi_undefined;
}

size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      return 8;
    default:
      return 2;  // napi_float16_array, the only kind newer headers add
  }
}

}  // namespace

bool IntegerArg(napi_env env, napi_value value, const char* name, double min, double max, double* out) {
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok) return Expected(env, value, name, "of type number");
  if (!std::isfinite(d) || std::trunc(d) != d || d < min || d > max) {
    char text[64];
    if (std::isnan(d)) {
      snprintf(text, sizeof text, "NaN");
    } else if (std::isinf(d)) {
      snprintf(text, sizeof text, d > 0 ? "Infinity" : "-Infinity");
    } else {
      snprintf(text, sizeof text, "%.17g", d);
    }
    ThrowRangeError(Napi::Env(env), std::string("The value of \"") + name +
                                        "\" is out of range. It must be an integer >= " +
                                        std::to_string(static_cast<long long>(min)) + " and <= " +
                                        std::to_string(static_cast<unsigned long long>(max)) + ". Received " + text);
    return false;
  }
  *out = d == 0 ? 0 : d;  // folds -0
  return true;
}

bool Uint32Arg(napi_env env, napi_value value, const char* name, int64_t fallback, uint32_t* out) {
  double d;
  if (napi_get_value_double(env, value, &d) == napi_ok && d >= 0 && d <= 4294967295.0 && std::trunc(d) == d) {
    *out = static_cast<uint32_t>(d);  // fast path: one call
    return true;
  }
  if (fallback >= 0 && IsUndefined(env, value)) {
    *out = static_cast<uint32_t>(fallback);
    return true;
  }
  if (!IntegerArg(env, value, name, 0, 4294967295.0, &d)) return false;
  *out = static_cast<uint32_t>(d);
  return true;
}

bool BytesArg(napi_env env, napi_value value, const char* name, Bytes* out) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok) {
    return Expected(env, value, name, "a TypedArray or Buffer");
  }
  out->data = static_cast<uint8_t*>(data);
  out->length = data == nullptr ? 0 : length * ElementSize(type);  // null data: detached
  return true;
}

bool Uint32ArrayArg(napi_env env, napi_value value, const char* name, uint32_t** data, size_t* length) {
  napi_typedarray_type type;
  void* raw = nullptr;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, nullptr, nullptr) != napi_ok ||
      type != napi_uint32_array) {
    return Expected(env, value, name, "a Uint32Array");
  }
  *data = static_cast<uint32_t*>(raw);
  if (raw == nullptr) *length = 0;
  return true;
}

bool ArgFd(const Napi::CallbackInfo& info, size_t index, int* out) {
  double d;
  if (!IntegerArg(info.Env(), info[index], "fd", 0, std::numeric_limits<int32_t>::max(), &d)) return false;
  *out = static_cast<int>(d);
  return true;
}

bool ArgFileOffset(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t* out) {
  double d;
  if (!IntegerArg(info.Env(), info[index], name, 0, kMaxFileOffset, &d)) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

bool ArgUint(const Napi::CallbackInfo& info, size_t index, const char* name, uint64_t max, int64_t fallback,
             uint64_t* out) {
  if (fallback >= 0 && IsUndefined(info.Env(), info[index])) {
    *out = static_cast<uint64_t>(fallback);
    return true;
  }
  const double limit = max > static_cast<uint64_t>(kMaxSafeInteger) ? kMaxSafeInteger : static_cast<double>(max);
  double d;
  if (!IntegerArg(info.Env(), info[index], name, 0, limit, &d)) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

bool ArgInt32(const Napi::CallbackInfo& info, size_t index, const char* name, int32_t* out) {
  double d;
  if (!IntegerArg(info.Env(), info[index], name, std::numeric_limits<int32_t>::min(),
                  std::numeric_limits<int32_t>::max(), &d)) {
    return false;
  }
  *out = static_cast<int32_t>(d);
  return true;
}

bool ArgBytes(const Napi::CallbackInfo& info, size_t index, const char* name, Bytes* out, Napi::Object* holder) {
  if (!BytesArg(info.Env(), info[index], name, out)) return false;
  if (holder != nullptr) *holder = info[index].As<Napi::Object>();
  return true;
}

bool ArgPath(const Napi::CallbackInfo& info, size_t index, const char* name, std::string* out) {
  const Napi::Value value = info[index];
  if (!value.IsString()) return Expected(info.Env(), value, name, "of type string");
  *out = value.As<Napi::String>().Utf8Value();
  if (out->empty()) {
    ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must be a non-empty string");
    return false;
  }
  if (out->find('\0') != std::string::npos) {
    ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must not contain null bytes");
    return false;
  }
  return true;
}

bool ArgChunks(const Napi::CallbackInfo& info, size_t index, const char* name, std::vector<iovec>* iov,
               uint64_t* total, std::vector<napi_value>* views) {
  napi_env env = info.Env();
  const napi_value value = info[index];
  bool isArray = false;
  if (napi_is_array(env, value, &isArray) != napi_ok || !isArray) return Expected(env, value, name, "an Array");
  uint32_t count = 0;
  if (napi_get_array_length(env, value, &count) != napi_ok) return false;
  if (count > kMaxChunks) {
    ThrowRangeError(Napi::Env(env), std::string("The \"") + name + "\" argument must hold at most " +
                                        std::to_string(kMaxChunks) + " chunks. Received " + std::to_string(count));
    return false;
  }
  // First every element, which runs whatever getters there are; the vector grows only as
  // elements prove to be TypedArrays, so a sparse array refuses its first hole for free.
  std::vector<napi_value> own;
  std::vector<napi_value>& chunks = views != nullptr ? *views : own;
  chunks.clear();
  for (uint32_t i = 0; i < count; ++i) {
    napi_value chunk;
    if (napi_get_element(env, value, i, &chunk) != napi_ok) return false;  // a throwing getter
    bool isTypedArray = false;
    if (napi_is_typedarray(env, chunk, &isTypedArray) != napi_ok || !isTypedArray) {
      const std::string label = std::string(name) + "[" + std::to_string(i) + "]";
      return Expected(env, chunk, label.c_str(), "a TypedArray or Buffer");
    }
    chunks.push_back(chunk);
  }
  // Then their bytes: no user code runs from here on, so no chunk moves once located.
  iov->clear();
  iov->reserve(chunks.size());
  *total = 0;
  for (napi_value chunk : chunks) {
    Bytes bytes;
    if (!BytesArg(env, chunk, name, &bytes)) return false;
    iov->push_back(iovec{bytes.data, bytes.length});
    *total += bytes.length;
  }
  return true;
}

}  // namespace durability
