#include "args.h"

#include <sys/types.h>

#include <cmath>
#include <cstdio>
#include <limits>

#include "errors.h"

namespace durability {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

const char* TypeName(const Napi::Value& value) {
  switch (value.Type()) {
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
    case napi_object:
      return value.IsArray() ? "Array" : value.IsArrayBuffer() ? "ArrayBuffer" : value.IsDataView() ? "DataView" : "object";
    case napi_function:
      return "function";
    case napi_external:
      return "external";
    case napi_bigint:
      return "bigint";
  }
  return "unknown";
}

std::string Expected(const char* name, const char* what, const Napi::Value& got) {
  return std::string("The \"") + name + "\" argument must be " + what + ". Received type " + TypeName(got);
}

/** A JS number that is an integer in [min, max]; TypeError for non-numbers, RangeError otherwise. */
bool IntegerIn(Napi::Env env, const Napi::Value& value, const char* name, double min, double max, double* out) {
  if (!value.IsNumber()) {
    ThrowTypeError(env, Expected(name, "of type number", value));
    return false;
  }
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d || d < min || d > max) {
    char text[64];
    if (std::isnan(d)) {
      snprintf(text, sizeof text, "NaN");
    } else if (std::isinf(d)) {
      snprintf(text, sizeof text, d > 0 ? "Infinity" : "-Infinity");
    } else {
      snprintf(text, sizeof text, "%.17g", d);
    }
    ThrowRangeError(env, std::string("The value of \"") + name + "\" is out of range. It must be an integer >= " +
                             std::to_string(static_cast<long long>(min)) + " and <= " +
                             std::to_string(static_cast<unsigned long long>(max)) + ". Received " + text);
    return false;
  }
  *out = d == 0 ? 0 : d;  // folds -0
  return true;
}

}  // namespace

bool ArgFd(const Napi::CallbackInfo& info, size_t index, int* out) {
  double d;
  if (!IntegerIn(info.Env(), info[index], "fd", 0, std::numeric_limits<int32_t>::max(), &d)) return false;
  *out = static_cast<int>(d);
  return true;
}

bool ArgFileOffset(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t* out) {
  constexpr double kMaxOff = sizeof(off_t) >= 8 ? kMaxSafeInteger : static_cast<double>(std::numeric_limits<off_t>::max());
  double d;
  if (!IntegerIn(info.Env(), info[index], name, 0, kMaxOff, &d)) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

bool ArgUint(const Napi::CallbackInfo& info, size_t index, const char* name, uint64_t max, int64_t fallback,
             uint64_t* out) {
  if (fallback >= 0 && info[index].IsUndefined()) {
    *out = static_cast<uint64_t>(fallback);
    return true;
  }
  const double limit = max > static_cast<uint64_t>(kMaxSafeInteger) ? kMaxSafeInteger : static_cast<double>(max);
  double d;
  if (!IntegerIn(info.Env(), info[index], name, 0, limit, &d)) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

bool ArgInt32(const Napi::CallbackInfo& info, size_t index, const char* name, int32_t* out) {
  double d;
  if (!IntegerIn(info.Env(), info[index], name, std::numeric_limits<int32_t>::min(),
                 std::numeric_limits<int32_t>::max(), &d)) {
    return false;
  }
  *out = static_cast<int32_t>(d);
  return true;
}

bool BytesOf(Napi::Env env, Napi::Value value, const char* name, Bytes* out) {
  if (!value.IsTypedArray()) {
    ThrowTypeError(env, Expected(name, "a TypedArray or Buffer", value));
    return false;
  }
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value arrayBuffer;
  size_t byteOffset = 0;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, &arrayBuffer, &byteOffset) != napi_ok) {
    ThrowTypeError(env, Expected(name, "a TypedArray or Buffer", value));
    return false;
  }
  out->data = static_cast<uint8_t*>(data);
  out->length = length * value.As<Napi::TypedArray>().ElementSize();
  if (out->data == nullptr) out->length = 0;  // detached
  return true;
}

bool ArgBytes(const Napi::CallbackInfo& info, size_t index, const char* name, Bytes* out, Napi::Object* holder) {
  if (!BytesOf(info.Env(), info[index], name, out)) return false;
  if (holder != nullptr) *holder = info[index].As<Napi::Object>();
  return true;
}

bool ArgUint32Array(const Napi::CallbackInfo& info, size_t index, const char* name, uint32_t** data, size_t* length) {
  const Napi::Value value = info[index];
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    ThrowTypeError(info.Env(), Expected(name, "a Uint32Array", value));
    return false;
  }
  Napi::Uint32Array array = value.As<Napi::Uint32Array>();
  *data = array.Data();
  *length = *data == nullptr ? 0 : array.ElementLength();
  return true;
}

bool ArgPath(const Napi::CallbackInfo& info, size_t index, const char* name, std::string* out) {
  const Napi::Value value = info[index];
  if (!value.IsString()) {
    ThrowTypeError(info.Env(), Expected(name, "of type string", value));
    return false;
  }
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

bool ArgArray(const Napi::CallbackInfo& info, size_t index, const char* name, Napi::Array* out) {
  const Napi::Value value = info[index];
  if (!value.IsArray()) {
    ThrowTypeError(info.Env(), Expected(name, "an Array", value));
    return false;
  }
  *out = value.As<Napi::Array>();
  return true;
}

}  // namespace durability

namespace durability {

bool ArgChunks(const Napi::CallbackInfo& info, size_t index, const char* name, std::vector<iovec>* iov,
               uint64_t* total, Napi::Array* holder) {
  Napi::Env env = info.Env();
  Napi::Array chunks;
  if (!ArgArray(info, index, name, &chunks)) return false;
  const uint32_t count = chunks.Length();
  iov->clear();
  iov->reserve(count);
  *total = 0;
  if (holder != nullptr) *holder = Napi::Array::New(env, count);
  for (uint32_t i = 0; i < count; ++i) {
    Napi::Value chunk = chunks.Get(i);
    if (env.IsExceptionPending()) return false;  // a throwing index getter
    const std::string label = std::string(name) + "[" + std::to_string(i) + "]";
    Bytes bytes;
    if (!BytesOf(env, chunk, label.c_str(), &bytes)) return false;
    iov->push_back(iovec{bytes.data, bytes.length});
    *total += bytes.length;
    if (holder != nullptr && !holder->Set(i, chunk)) return false;
  }
  return true;
}

}  // namespace durability
