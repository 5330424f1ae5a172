// Which errno a Win32 error code becomes: mostly the value libuv would give node:fs for it, so
// both backends name a failure alike (lib/errors.ts toIoError); an NTFS quota, which libuv
// leaves unknown, is EDQUOT, as on POSIX. A plain table, compiled on every
// platform so a test build can check it on any host (test_hooks.h __errnoNameOfWin32);
// platform_win32.cc checks every code in it against <windows.h> at compile time.
#pragma once

#include <cerrno>
#include <cstdint>

namespace durability {

/**
 * EDQUOT, the user's disk quota is full. The Windows C runtime has no such errno: there the core
 * uses a value of its own, outside the runtime's range, and names it "EDQUOT" all the same
 * (errors.cc), so an NTFS quota reads as no room (lib/backend/no-room.ts) as it does on POSIX.
 */
#if defined(EDQUOT)
constexpr int kEdquot = EDQUOT;
#else
constexpr int kEdquot = 10069;  // WSAEDQUOT's number: no C runtime errno is that large
#endif

// X(name in <windows.h>, its value, errno). A code not listed becomes EIO.
#define DURABILITY_WIN32_ERRORS(X)                 \
  X(ERROR_INVALID_FUNCTION, 1, ENOTSUP)            \
  X(ERROR_FILE_NOT_FOUND, 2, ENOENT)               \
  X(ERROR_PATH_NOT_FOUND, 3, ENOENT)               \
  X(ERROR_TOO_MANY_OPEN_FILES, 4, EMFILE)          \
  X(ERROR_ACCESS_DENIED, 5, EPERM)                 \
  X(ERROR_INVALID_HANDLE, 6, EBADF)                \
  X(ERROR_NOT_ENOUGH_MEMORY, 8, ENOMEM)            \
  X(ERROR_OUTOFMEMORY, 14, ENOMEM)                 \
  X(ERROR_INVALID_DRIVE, 15, ENOENT)               \
  X(ERROR_NOT_SAME_DEVICE, 17, EXDEV)              \
  X(ERROR_WRITE_PROTECT, 19, EROFS)                \
  X(ERROR_SHARING_VIOLATION, 32, EBUSY)            \
  X(ERROR_LOCK_VIOLATION, 33, EBUSY)               \
  X(ERROR_HANDLE_DISK_FULL, 39, ENOSPC)            \
  X(ERROR_NOT_SUPPORTED, 50, ENOTSUP)              \
  X(ERROR_FILE_EXISTS, 80, EEXIST)                 \
  X(ERROR_INVALID_PARAMETER, 87, EINVAL)           \
  X(ERROR_DISK_FULL, 112, ENOSPC)                  \
  X(ERROR_CALL_NOT_IMPLEMENTED, 120, ENOSYS)       \
  X(ERROR_INVALID_NAME, 123, ENOENT)               \
  X(ERROR_NEGATIVE_SEEK, 131, EINVAL)              \
  X(ERROR_DIR_NOT_EMPTY, 145, ENOTEMPTY)           \
  X(ERROR_BAD_PATHNAME, 161, ENOENT)               \
  X(ERROR_BUSY, 170, EBUSY)                        \
  X(ERROR_ALREADY_EXISTS, 183, EEXIST)             \
  X(ERROR_FILENAME_EXCED_RANGE, 206, ENAMETOOLONG) \
  X(ERROR_FILE_TOO_LARGE, 223, EFBIG)              \
  X(ERROR_DIRECTORY, 267, ENOTDIR)                 \
  X(ERROR_OPERATION_ABORTED, 995, ECANCELED)       \
  X(ERROR_NO_UNICODE_TRANSLATION, 1113, EINVAL)    \
  X(ERROR_DISK_QUOTA_EXCEEDED, 1295, kEdquot)      \
  X(ERROR_PRIVILEGE_NOT_HELD, 1314, EPERM)

/** The errno for a Win32 error code (EIO for one the table does not list). */
int ErrnoOfWin32(uint32_t error);

}  // namespace durability
