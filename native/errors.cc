#include "errors.h"

#include <dlfcn.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace durability {
namespace {

using NameFn = const char* (*)(int);

// glibc >= 2.32 names every errno. Looked up at run time rather than linked, so the binary
// keeps loading on older glibc and on musl, which then use the table below.
NameFn FindStrerrorname() {
  return reinterpret_cast<NameFn>(dlsym(RTLD_DEFAULT, "strerrorname_np"));
}

const NameFn kStrerrorname = FindStrerrorname();

const char* TableName(int err) {
  switch (err) {
#define DURABILITY_ERRNO(name) \
  case name:                   \
    return #name;
    DURABILITY_ERRNO(EPERM)
    DURABILITY_ERRNO(ENOENT)
    DURABILITY_ERRNO(ESRCH)
    DURABILITY_ERRNO(EINTR)
    DURABILITY_ERRNO(EIO)
    DURABILITY_ERRNO(ENXIO)
    DURABILITY_ERRNO(E2BIG)
    DURABILITY_ERRNO(EBADF)
    DURABILITY_ERRNO(EAGAIN)
    DURABILITY_ERRNO(ENOMEM)
    DURABILITY_ERRNO(EACCES)
    DURABILITY_ERRNO(EFAULT)
    DURABILITY_ERRNO(EBUSY)
    DURABILITY_ERRNO(EEXIST)
    DURABILITY_ERRNO(EXDEV)
    DURABILITY_ERRNO(ENODEV)
    DURABILITY_ERRNO(ENOTDIR)
    DURABILITY_ERRNO(EISDIR)
    DURABILITY_ERRNO(EINVAL)
    DURABILITY_ERRNO(ENFILE)
    DURABILITY_ERRNO(EMFILE)
    DURABILITY_ERRNO(ETXTBSY)
    DURABILITY_ERRNO(EFBIG)
    DURABILITY_ERRNO(ENOSPC)
    DURABILITY_ERRNO(ESPIPE)
    DURABILITY_ERRNO(EROFS)
    DURABILITY_ERRNO(EMLINK)
    DURABILITY_ERRNO(EPIPE)
    DURABILITY_ERRNO(ERANGE)
    DURABILITY_ERRNO(EDEADLK)
    DURABILITY_ERRNO(ENAMETOOLONG)
    DURABILITY_ERRNO(ENOLCK)
    DURABILITY_ERRNO(ENOSYS)
    DURABILITY_ERRNO(ENOTEMPTY)
    DURABILITY_ERRNO(ELOOP)
    DURABILITY_ERRNO(EOVERFLOW)
    DURABILITY_ERRNO(EDQUOT)
    DURABILITY_ERRNO(ESTALE)
    DURABILITY_ERRNO(ETIMEDOUT)
    DURABILITY_ERRNO(ECANCELED)
    DURABILITY_ERRNO(EOPNOTSUPP)
#if defined(ENOTSUP) && ENOTSUP != EOPNOTSUPP
    DURABILITY_ERRNO(ENOTSUP)
#endif
#if defined(EWOULDBLOCK) && EWOULDBLOCK != EAGAIN
    DURABILITY_ERRNO(EWOULDBLOCK)
#endif
#undef DURABILITY_ERRNO
    default:
      return nullptr;
  }
}

// GNU strerror_r returns the message; XSI returns 0 and fills the buffer. Overloads pick the right one.
[[maybe_unused]] const char* StrerrorResult(const char* message, const char*) { return message; }
[[maybe_unused]] const char* StrerrorResult(int rc, const char* buffer) { return rc == 0 ? buffer : "unknown error"; }

std::string Describe(int err) {
  char buffer[128] = {0};
  std::string text = StrerrorResult(strerror_r(err, buffer, sizeof buffer), buffer);
  // Node writes "no such file or directory"; libc writes "No such file or directory".
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' && !(text.size() > 1 && text[1] >= 'A' && text[1] <= 'Z')) {
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  }
  return text;
}

bool SetString(napi_env env, napi_value object, const char* key, const char* value) {
  napi_value v;
  return napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) == napi_ok &&
         napi_set_named_property(env, object, key, v) == napi_ok;
}

void ThrowOf(Napi::Env env, napi_status (*create)(napi_env, napi_value, napi_value, napi_value*),
             const std::string& message) {
  napi_value msg;
  napi_value error;
  if (napi_create_string_utf8(env, message.c_str(), message.size(), &msg) != napi_ok) return;
  if (create(env, nullptr, msg, &error) != napi_ok) return;
  napi_throw(env, error);
}

}  // namespace

const char* ErrnoName(int err) {
  if (kStrerrorname != nullptr) {
    const char* name = kStrerrorname(err);
    if (name != nullptr) return name;
  }
  const char* name = TableName(err);
  return name != nullptr ? name : "EUNKNOWN";
}

napi_value MakeSysError(napi_env env, int err, const char* syscall, const char* path, const char* dest) {
  const char* code = ErrnoName(err);
  std::string message = std::string(code) + ": " + Describe(err) + ", " + syscall;
  if (path != nullptr) message += std::string(" '") + path + "'";
  if (dest != nullptr) message += std::string(" -> '") + dest + "'";

  napi_value msg;
  napi_value error;
  napi_value errnoValue;
  if (napi_create_string_utf8(env, message.c_str(), message.size(), &msg) != napi_ok) return nullptr;
  if (napi_create_error(env, nullptr, msg, &error) != napi_ok) return nullptr;
  if (!SetString(env, error, "code", code)) return nullptr;
  if (napi_create_int32(env, err, &errnoValue) != napi_ok ||
      napi_set_named_property(env, error, "errno", errnoValue) != napi_ok) {
    return nullptr;
  }
  if (!SetString(env, error, "syscall", syscall)) return nullptr;
  if (path != nullptr && !SetString(env, error, "path", path)) return nullptr;
  if (dest != nullptr && !SetString(env, error, "dest", dest)) return nullptr;
  return error;
}

void ThrowSysError(Napi::Env env, int err, const char* syscall, const char* path, const char* dest) {
  napi_value error = MakeSysError(env, err, syscall, path, dest);
  if (error != nullptr) napi_throw(env, error);
}

void ThrowTypeError(Napi::Env env, const std::string& message) { ThrowOf(env, napi_create_type_error, message); }

void ThrowRangeError(Napi::Env env, const std::string& message) { ThrowOf(env, napi_create_range_error, message); }

}  // namespace durability
