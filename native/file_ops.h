// Blocking file system calls, shared by the sync bindings and the thread-pool workers. They
// touch no JS state and never throw: the outcome is an IoResult naming the failed syscall.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace durability {

struct IoResult {
  int64_t value = 0;              // descriptor, byte count, size, or 1/0 for tryLock
  int err = 0;                    // errno; 0 on success
  const char* syscall = nullptr;  // which call failed
  bool ok() const { return err == 0; }
};

IoResult OpenFile(const char* path, int flags, unsigned mode);
IoResult CloseFd(int fd);
/** Writes all of data, looping over short writes and EINTR. */
IoResult PwriteAll(int fd, const uint8_t* data, size_t length, int64_t offset);
/** Gather-writes every iovec contiguously from offset; consumes (modifies) `iov`. */
IoResult PwritevAll(int fd, std::vector<iovec>& iov, int64_t offset);
/** Reads until `length` bytes or end of file. */
IoResult PreadFull(int fd, uint8_t* data, size_t length, int64_t offset);
IoResult Fallocate(int fd, int64_t offset, int64_t length);
IoResult Ftruncate(int fd, int64_t length);
IoResult Fdatasync(int fd);
IoResult Fsync(int fd);
/** open(O_RDONLY|O_DIRECTORY), fsync, close. */
IoResult FsyncDir(const char* path);
IoResult FileSize(int fd);
IoResult Rename(const char* from, const char* to);
IoResult Unlink(const char* path);
IoResult Mkdir(const char* path, unsigned mode);
/** value 1: acquired; value 0: held through another open file description. */
IoResult TryLockExclusive(int fd);
IoResult Unlock(int fd);

}  // namespace durability
