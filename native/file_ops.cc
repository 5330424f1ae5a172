#include "file_ops.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace durability {
namespace {

IoResult Ok(int64_t value = 0) {
  IoResult r;
  r.value = value;
  return r;
}

IoResult Fail(const char* syscall, int err = errno) {
  IoResult r;
  r.err = err;
  r.syscall = syscall;
  return r;
}

#if defined(IOV_MAX)
constexpr size_t kIovMax = IOV_MAX;
#else
constexpr size_t kIovMax = 1024;
#endif

/** fsync-family call, retried on EINTR; macOS asks the drive to flush its cache too. */
IoResult SyncFd(int fd, bool dataOnly, const char* syscall) {
#if defined(__APPLE__)
  (void)dataOnly;
  if (fcntl(fd, F_FULLFSYNC) == 0) return Ok();
  // File systems without F_FULLFSYNC (network mounts) fall back to fsync.
  for (;;) {
    if (fsync(fd) == 0) return Ok();
    if (errno != EINTR) return Fail(syscall);
  }
#else
  for (;;) {
    if ((dataOnly ? fdatasync(fd) : fsync(fd)) == 0) return Ok();
    if (errno != EINTR) return Fail(syscall);
  }
#endif
}

}  // namespace

IoResult OpenFile(const char* path, int flags, unsigned mode) {
  for (;;) {
    const int fd = open(path, flags | O_CLOEXEC, static_cast<mode_t>(mode));
    if (fd >= 0) return Ok(fd);
    if (errno != EINTR) return Fail("open");
  }
}

IoResult CloseFd(int fd) {
  // After EINTR the descriptor is already released on Linux; retrying could close a reused one.
  if (close(fd) == 0 || errno == EINTR) return Ok();
  return Fail("close");
}

IoResult PwriteAll(int fd, const uint8_t* data, size_t length, int64_t offset) {
  size_t done = 0;
  while (done < length) {
    const ssize_t n = pwrite(fd, data + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail("pwrite");
    }
    if (n == 0) return Fail("pwrite", EIO);  // no progress and no error: never spin
    done += static_cast<size_t>(n);
  }
  return Ok(static_cast<int64_t>(done));
}

IoResult PwritevAll(int fd, std::vector<iovec>& iov, int64_t offset) {
  size_t first = 0;
  int64_t total = 0;
  while (first < iov.size() && iov[first].iov_len == 0) ++first;
  while (first < iov.size()) {
    const size_t count = iov.size() - first < kIovMax ? iov.size() - first : kIovMax;
    const ssize_t n = pwritev(fd, &iov[first], static_cast<int>(count), static_cast<off_t>(offset + total));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail("pwritev");
    }
    if (n == 0) return Fail("pwritev", EIO);
    total += n;
    size_t left = static_cast<size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (left > 0) {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
    while (first < iov.size() && iov[first].iov_len == 0) ++first;
  }
  return Ok(total);
}

IoResult PreadFull(int fd, uint8_t* data, size_t length, int64_t offset) {
  size_t done = 0;
  while (done < length) {
    const ssize_t n = pread(fd, data + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail("pread");
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return Ok(static_cast<int64_t>(done));
}

IoResult Fallocate(int fd, int64_t offset, int64_t length) {
#if defined(__linux__)
  for (;;) {
    if (fallocate(fd, 0, static_cast<off_t>(offset), static_cast<off_t>(length)) == 0) return Ok();
    if (errno != EINTR) return Fail("fallocate");
  }
#else
  (void)fd;
  (void)offset;
  (void)length;
  return Fail("fallocate", EOPNOTSUPP);
#endif
}

IoResult Ftruncate(int fd, int64_t length) {
  for (;;) {
    if (ftruncate(fd, static_cast<off_t>(length)) == 0) return Ok();
    if (errno != EINTR) return Fail("ftruncate");
  }
}

IoResult Fdatasync(int fd) { return SyncFd(fd, true, "fdatasync"); }

IoResult Fsync(int fd) { return SyncFd(fd, false, "fsync"); }

IoResult FsyncDir(const char* path) {
  const IoResult opened = OpenFile(path, O_RDONLY | O_DIRECTORY, 0);
  if (!opened.ok()) return opened;
  const int fd = static_cast<int>(opened.value);
  const IoResult synced = SyncFd(fd, false, "fsync");
  const IoResult closed = CloseFd(fd);
  return synced.ok() ? closed : synced;
}

IoResult FileSize(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Fail("fstat");
  return Ok(static_cast<int64_t>(st.st_size));
}

IoResult Rename(const char* from, const char* to) {
  if (std::rename(from, to) == 0) return Ok();
  return Fail("rename");
}

IoResult Unlink(const char* path) {
  if (unlink(path) == 0) return Ok();
  return Fail("unlink");
}

IoResult Mkdir(const char* path, unsigned mode) {
  if (mkdir(path, static_cast<mode_t>(mode)) == 0) return Ok();
  return Fail("mkdir");
}

IoResult TryLockExclusive(int fd) {
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return Ok(1);
    if (errno == EWOULDBLOCK || errno == EAGAIN) return Ok(0);
    if (errno != EINTR) return Fail("flock");
  }
}

IoResult Unlock(int fd) {
  for (;;) {
    if (flock(fd, LOCK_UN) == 0) return Ok();
    if (errno != EINTR) return Fail("flock");
  }
}

}  // namespace durability
