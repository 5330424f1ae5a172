#include "errors.h"

#include <cerrno>
#include <string>

#include "platform.h"
#include "win32_errno.h"

namespace durability {
namespace {

// For C libraries that cannot name an errno themselves (musl, macOS, Windows; glibc < 2.32).
// Names outside ISO C are guarded: the Windows runtime lacks some (EDQUOT, ESTALE).
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
#if defined(ETXTBSY)
    DURABILITY_ERRNO(ETXTBSY)
#endif
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
#if defined(ELOOP)
    DURABILITY_ERRNO(ELOOP)
#endif
#if defined(EOVERFLOW)
    DURABILITY_ERRNO(EOVERFLOW)
#endif
#if defined(EDQUOT)
    DURABILITY_ERRNO(EDQUOT)
#else
    case kEdquot:  // the core's own value where the C runtime has none (win32_errno.h)
      return "EDQUOT";
#endif
#if defined(ESTALE)
    DURABILITY_ERRNO(ESTALE)
#endif
#if defined(ETIMEDOUT)
    DURABILITY_ERRNO(ETIMEDOUT)
#endif
#if defined(ECANCELED)
    DURABILITY_ERRNO(ECANCELED)
#endif
#if defined(EOPNOTSUPP)
    DURABILITY_ERRNO(EOPNOTSUPP)
#endif
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

std::string Describe(int err) {
  std::string text = SystemErrorText(err);
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
  const char* name = SystemErrnoName(err);
  if (name != nullptr) return name;
  name = TableName(err);
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
