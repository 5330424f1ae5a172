// POSIX side of platform.h: Linux, and macOS where marked. macOS differs in three places:
// durable sync is fcntl(F_FULLFSYNC) (fsync there leaves data in the drive's write cache, and
// there is no fdatasync), preallocation is fcntl(F_PREALLOCATE) plus ftruncate, and pwritev
// exists only from macOS 11.
#if !defined(_WIN32)

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "platform.h"
#include "test_hooks.h"

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

/** fsync-family call, retried on EINTR. */
IoResult SyncFd(int fd, bool dataOnly, const char* syscall) {
#if defined(__APPLE__)
  (void)dataOnly;
  for (;;) {
    if (fcntl(fd, F_FULLFSYNC) == 0) return Ok();
    if (errno == EINTR) continue;
    // File systems that cannot flush the drive cache (network mounts) refuse F_FULLFSYNC as
    // unsupported; they get fsync, the best they offer. EINVAL also means "not for this kind of
    // file", never lost data. Anything else (EIO) is the answer.
    if (errno != ENOTSUP && errno != EOPNOTSUPP && errno != EINVAL) return Fail(syscall);
    break;
  }
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

/** pwritev, or on macOS before 11 a pwrite of the first buffer: a short write the caller continues. */
ssize_t WritevAt(int fd, const iovec* iov, int count, off_t offset) {
#if defined(__APPLE__)
  if (__builtin_available(macOS 11.0, *)) return pwritev(fd, iov, count, offset);
  return pwrite(fd, iov[0].iov_base, iov[0].iov_len, offset);
#else
  return pwritev(fd, iov, count, offset);
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
    const ssize_t n = WritevAt(fd, &iov[first], static_cast<int>(count), static_cast<off_t>(offset + total));
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
  int interrupted = 0;
  while (done < length) {
    // A test build's hook may fail this read or shorten it, as a failing disk or FUSE would.
    const int injected = InjectedError(CommitStep::kRead);
    ssize_t n;
    if (injected > 0) {
      errno = injected;
      n = -1;
    } else {
      n = pread(fd, data + done, injected == kShortRead ? 1 : length - done, static_cast<off_t>(offset + done));
    }
    if (n < 0) {
      if (errno == EINTR && ++interrupted < kMaxEintrInARow) continue;
      return Fail("pread");
    }
    if (n == 0) break;
    interrupted = 0;
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
#elif defined(__APPLE__)
  if (length == 0) return Fail("fallocate", EINVAL);  // as fallocate(2)
  struct stat st;
  if (fstat(fd, &st) != 0) return Fail("fallocate");
  const int64_t end = offset + length;
  if (end <= st.st_size) return Ok();  // already inside the file
  // F_PEOFPOSMODE counts from the allocated end, which is at or past st_size: asking for the
  // growth over st_size may reserve up to a block more than needed, never less.
  fstore_t store = {};
  store.fst_flags = F_ALLOCATECONTIG | F_ALLOCATEALL;
  store.fst_posmode = F_PEOFPOSMODE;
  store.fst_length = static_cast<off_t>(end - st.st_size);
  while (fcntl(fd, F_PREALLOCATE, &store) == -1) {
    if (errno == EINTR) continue;
    if (store.fst_flags == F_ALLOCATEALL) return Fail("fallocate");
    store.fst_flags = F_ALLOCATEALL;  // no contiguous run that large: any blocks will do
  }
  for (;;) {
    if (ftruncate(fd, static_cast<off_t>(end)) == 0) return Ok();
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

namespace {

using NameFn = const char* (*)(int);

// glibc >= 2.32 names every errno. Looked up at run time rather than linked, so the binary
// keeps loading on older glibc, musl and macOS, which then use errors.cc's table.
const NameFn kStrerrorname = reinterpret_cast<NameFn>(dlsym(RTLD_DEFAULT, "strerrorname_np"));

// GNU strerror_r returns the message; XSI (musl, macOS) returns 0 and fills the buffer.
[[maybe_unused]] const char* StrerrorResult(const char* message, const char*) { return message; }
[[maybe_unused]] const char* StrerrorResult(int rc, const char* buffer) { return rc == 0 ? buffer : "unknown error"; }

}  // namespace

const char* SystemErrnoName(int err) { return kStrerrorname != nullptr ? kStrerrorname(err) : nullptr; }

std::string SystemErrorText(int err) {
  char buffer[128] = {0};
  return StrerrorResult(strerror_r(err, buffer, sizeof buffer), buffer);
}

}  // namespace durability

#endif  // !_WIN32
