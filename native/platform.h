// The operating system, behind one small interface: every file, lock and error-text call the
// core makes goes through here. platform_posix.cc serves Linux and macOS (the macOS differences
// are marked __APPLE__ inside it), platform_win32.cc serves Windows; each compiles to nothing on
// the other. Nothing here touches JS state or throws: a call returns an IoResult naming the
// step that failed, with a POSIX errno value (Windows errors are translated to the nearest one,
// so JS sees the same codes everywhere).
#pragma once

#include <fcntl.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#if defined(_WIN32)
// Windows has no iovec; gather writes take the same shape so callers stay portable.
struct iovec {
  void* iov_base;
  size_t iov_len;
};
#else
#include <sys/types.h>
#include <sys/uio.h>
#endif

namespace durability {

// Open flags as JS passes them (binding `constants`): the values node:fs uses here, so
// fs.constants.O_* can be passed unchanged.
#if defined(_WIN32)
constexpr int kOpenReadOnly = _O_RDONLY, kOpenWriteOnly = _O_WRONLY, kOpenReadWrite = _O_RDWR, kOpenCreate = _O_CREAT,
              kOpenExclusive = _O_EXCL, kOpenTruncate = _O_TRUNC, kOpenAppend = _O_APPEND;
#else
constexpr int kOpenReadOnly = O_RDONLY, kOpenWriteOnly = O_WRONLY, kOpenReadWrite = O_RDWR, kOpenCreate = O_CREAT,
              kOpenExclusive = O_EXCL, kOpenTruncate = O_TRUNC, kOpenAppend = O_APPEND;
#endif

/** Largest file offset or length the calls accept: 2^53-1 (JS safe integers), less where off_t is 32-bit. */
#if defined(_WIN32)
constexpr double kMaxFileOffset = 9007199254740991.0;  // offsets travel in OVERLAPPED as 64 bits
#else
constexpr double kMaxFileOffset = sizeof(off_t) >= 8 ? 9007199254740991.0 : 2147483647.0;
#endif

struct IoResult {
  int64_t value = 0;              // descriptor, byte count, size, or 1/0 for tryLock
  int err = 0;                    // errno; 0 on success
  const char* syscall = nullptr;  // the failed step, named like node:fs names it ("open", "fdatasync")
  bool ok() const { return err == 0; }
};

// Descriptors are small non-negative ints everywhere (on Windows, C runtime descriptors over
// HANDLEs), opened without inheritance by child processes.

IoResult OpenFile(const char* path, int flags, unsigned mode);
IoResult CloseFd(int fd);
/** Writes all of data at offset, looping over short writes and EINTR. */
IoResult PwriteAll(int fd, const uint8_t* data, size_t length, int64_t offset);
/** Gather-writes every iovec contiguously from offset; consumes (modifies) `iov`. */
IoResult PwritevAll(int fd, std::vector<iovec>& iov, int64_t offset);
/**
 * How many reads in a row PreadFull lets EINTR interrupt with no byte read between them before it
 * fails with EINTR: a signal interrupts a read now and then, but a FUSE server answering every read
 * with EINTR would hold the calling thread for good. lib/backend/read-fully.ts gives up at the same count.
 */
constexpr int kMaxEintrInARow = 1000;
/** Reads until `length` bytes or end of file; EINTR is read again (up to kMaxEintrInARow in a row). */
IoResult PreadFull(int fd, uint8_t* data, size_t length, int64_t offset);
/** Reserves [offset, offset+length) and extends the size to cover it; EINVAL for length 0; EOPNOTSUPP where impossible. */
IoResult Fallocate(int fd, int64_t offset, int64_t length);
IoResult Ftruncate(int fd, int64_t length);
/** Data (and the metadata to read it back) on stable storage, the drive's write cache included. */
IoResult Fdatasync(int fd);
/** Makes the directory's entries durable (POSIX: open O_DIRECTORY, fsync, close; Windows: see there). */
IoResult FsyncDir(const char* path);
IoResult FileSize(int fd);
/** Replaces `to` if it exists, atomically. */
IoResult Rename(const char* from, const char* to);
IoResult Unlink(const char* path);
IoResult Mkdir(const char* path, unsigned mode);
/**
 * Exclusive, non-blocking, whole-file lock owned by this open file (flock on POSIX, LockFileEx on
 * Windows): a second open of the same file, in this process or another, is refused. value 1:
 * acquired; value 0: held through another open file.
 */
IoResult TryLockExclusive(int fd);
IoResult Unlock(int fd);

/** The C library's symbolic name for an errno ("EIO"), or nullptr when it has no lookup for it. */
const char* SystemErrnoName(int err);
/** The C library's description of an errno ("No such file or directory"). */
std::string SystemErrorText(int err);

}  // namespace durability
