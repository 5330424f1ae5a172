// OS failures become JS Errors shaped like Node's own fs errors: message
// "ENOENT: no such file or directory, open '/x'", plus code, errno (positive), syscall, path, dest.
#pragma once

#include <napi.h>

namespace durability {

/** Symbolic errno name ("EIO"); "EUNKNOWN" when this libc cannot name it. */
const char* ErrnoName(int err);

/**
 * Builds the error with raw Node-API calls. Returns nullptr when the environment cannot create
 * objects any more (a terminating worker): callers then drop the error instead of aborting.
 */
napi_value MakeSysError(napi_env env, int err, const char* syscall, const char* path = nullptr,
                        const char* dest = nullptr);

/** Throws the error as a pending JS exception (sync bindings return right after). */
void ThrowSysError(Napi::Env env, int err, const char* syscall, const char* path = nullptr,
                   const char* dest = nullptr);

void ThrowTypeError(Napi::Env env, const std::string& message);
void ThrowRangeError(Napi::Env env, const std::string& message);

}  // namespace durability
