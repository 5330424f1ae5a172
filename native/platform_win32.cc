// Windows side of platform.h, over Win32 handles. Descriptors are indexes into a process-wide
// table of HANDLEs (not C runtime descriptors: the runtime's invalid-parameter handler would end
// the process on a stale number, where POSIX answers EBADF). Positioned I/O passes the offset in
// an OVERLAPPED on a synchronous handle; locks are LockFileEx over the whole range; Win32 errors
// become the errno values libuv would give node:fs for them.
#if defined(_WIN32)

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>

#include "platform.h"
#include "test_hooks.h"
#include "win32_errno.h"

namespace durability {
namespace {

IoResult Ok(int64_t value = 0) {
  IoResult r;
  r.value = value;
  return r;
}

IoResult Fail(const char* syscall, int err) {
  IoResult r;
  r.err = err;
  r.syscall = syscall;
  return r;
}

// mingw-w64's winerror.h lacks this one; the Windows SDK's defines it as 1295.
#ifndef ERROR_DISK_QUOTA_EXCEEDED
#define ERROR_DISK_QUOTA_EXCEEDED 1295L
#endif

// Every code of the table is the one <windows.h> names (win32_errno.h keeps them as numbers).
#define DURABILITY_WIN32_CHECK(name, code, err) static_assert(name == code, #name);
DURABILITY_WIN32_ERRORS(DURABILITY_WIN32_CHECK)
#undef DURABILITY_WIN32_CHECK

int ErrnoOf(DWORD error) { return ErrnoOfWin32(error); }

IoResult LastError(const char* syscall) { return Fail(syscall, ErrnoOf(GetLastError())); }

struct Slot {
  HANDLE handle = nullptr;  // nullptr: free
  bool locked = false;      // LockFileEx does not nest; flock on a holder succeeds again
};

/** Descriptor table shared by every thread; the lowest free number is reused, as POSIX does. */
class Handles {
 public:
  int Add(HANDLE h) {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t fd = 0;
    while (fd < slots_.size() && slots_[fd].handle != nullptr) ++fd;
    if (fd == slots_.size()) slots_.push_back(Slot{});
    slots_[fd].handle = h;
    slots_[fd].locked = false;
    return static_cast<int>(fd);
  }
  HANDLE Get(int fd) {
    std::lock_guard<std::mutex> lock(mutex_);
    return Valid(fd) ? slots_[fd].handle : INVALID_HANDLE_VALUE;
  }
  HANDLE Remove(int fd) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!Valid(fd)) return INVALID_HANDLE_VALUE;
    const HANDLE h = slots_[fd].handle;
    slots_[fd] = Slot{};
    return h;
  }
  /** Sets the locked flag; returns its previous value. */
  bool ExchangeLocked(int fd, bool locked) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!Valid(fd)) return false;
    const bool was = slots_[fd].locked;
    slots_[fd].locked = locked;
    return was;
  }

 private:
  bool Valid(int fd) const { return fd >= 0 && static_cast<size_t>(fd) < slots_.size() && slots_[fd].handle != nullptr; }
  std::mutex mutex_;
  std::vector<Slot> slots_;
};

Handles& Table() {
  static Handles table;
  return table;
}

bool Widen(const char* path, std::wstring* out) {
  const int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, nullptr, 0);
  if (n <= 0) return false;
  out->resize(static_cast<size_t>(n));
  if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, &(*out)[0], n) != n) return false;
  out->resize(static_cast<size_t>(n - 1));  // drop the terminator the count included
  return true;
}

OVERLAPPED At(uint64_t offset) {
  OVERLAPPED ov = {};
  ov.Offset = static_cast<DWORD>(offset);
  ov.OffsetHigh = static_cast<DWORD>(offset >> 32);
  return ov;
}

constexpr size_t kMaxIo = size_t{1} << 30;  // one ReadFile/WriteFile takes a DWORD count

IoResult WriteAllAt(HANDLE h, const uint8_t* data, size_t length, uint64_t offset, const char* syscall) {
  size_t done = 0;
  while (done < length) {
    const DWORD chunk = static_cast<DWORD>(length - done < kMaxIo ? length - done : kMaxIo);
    OVERLAPPED ov = At(offset + done);
    DWORD n = 0;
    if (!WriteFile(h, data + done, chunk, &n, &ov)) {
      // An open handle refuses a write only for lacking write access: POSIX says EBADF there.
      if (GetLastError() == ERROR_ACCESS_DENIED) return Fail(syscall, EBADF);
      return LastError(syscall);
    }
    if (n == 0) return Fail(syscall, EIO);  // no progress and no error: never spin
    done += n;
  }
  return Ok(static_cast<int64_t>(done));
}

IoResult SetFileLength(HANDLE h, int64_t length, const char* syscall) {
  FILE_END_OF_FILE_INFO eof = {};
  eof.EndOfFile.QuadPart = length;
  if (!SetFileInformationByHandle(h, FileEndOfFileInfo, &eof, sizeof eof)) return LastError(syscall);
  return Ok();
}

}  // namespace

IoResult OpenFile(const char* path, int flags, unsigned mode) {
  std::wstring wide;
  if (!Widen(path, &wide)) return Fail("open", EINVAL);
  DWORD access;
  switch (flags & (_O_RDONLY | _O_WRONLY | _O_RDWR)) {
    case _O_RDONLY:
      access = FILE_GENERIC_READ;
      break;
    case _O_WRONLY:
      access = FILE_GENERIC_WRITE;
      break;
    case _O_RDWR:
      access = FILE_GENERIC_READ | FILE_GENERIC_WRITE;
      break;
    default:
      return Fail("open", EINVAL);
  }
  if (flags & _O_APPEND) {
    // Without FILE_WRITE_DATA every write lands at the end, whatever offset it names (as pwrite
    // on an O_APPEND descriptor does on Linux).
    access &= ~static_cast<DWORD>(FILE_WRITE_DATA);
    access |= FILE_APPEND_DATA;
  }
  DWORD disposition;
  if (flags & _O_CREAT) {
    disposition = (flags & _O_EXCL) ? CREATE_NEW : (flags & _O_TRUNC) ? CREATE_ALWAYS : OPEN_ALWAYS;
  } else {
    disposition = (flags & _O_TRUNC) ? TRUNCATE_EXISTING : OPEN_EXISTING;
  }
  const DWORD attributes = ((flags & _O_CREAT) && !(mode & 0200)) ? FILE_ATTRIBUTE_READONLY : FILE_ATTRIBUTE_NORMAL;
  // Sharing everything, delete included, is what POSIX callers expect: an open file can be
  // renamed over or unlinked. No SECURITY_ATTRIBUTES: the handle is not inherited (O_CLOEXEC).
  const HANDLE h = CreateFileW(wide.c_str(), access, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                               disposition, attributes | FILE_FLAG_BACKUP_SEMANTICS, nullptr);
  if (h == INVALID_HANDLE_VALUE) return LastError("open");
  // With FILE_FLAG_BACKUP_SEMANTICS a directory opens too, and then reads as empty: refuse it,
  // as a POSIX read would (EISDIR).
  BY_HANDLE_FILE_INFORMATION info;
  if (GetFileInformationByHandle(h, &info) && (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)) {
    CloseHandle(h);
    return Fail("open", EISDIR);
  }
  return Ok(Table().Add(h));
}

IoResult CloseFd(int fd) {
  const HANDLE h = Table().Remove(fd);
  if (h == INVALID_HANDLE_VALUE) return Fail("close", EBADF);
  if (!CloseHandle(h)) return LastError("close");
  return Ok();
}

IoResult PwriteAll(int fd, const uint8_t* data, size_t length, int64_t offset) {
  const HANDLE h = Table().Get(fd);
  if (h == INVALID_HANDLE_VALUE) return Fail("pwrite", EBADF);
  return WriteAllAt(h, data, length, static_cast<uint64_t>(offset), "pwrite");
}

IoResult PwritevAll(int fd, std::vector<iovec>& iov, int64_t offset) {
  // Windows has a gather write only for unbuffered, page-aligned I/O: one write per buffer.
  const HANDLE h = Table().Get(fd);
  if (h == INVALID_HANDLE_VALUE) return Fail("pwritev", EBADF);
  uint64_t at = static_cast<uint64_t>(offset);
  for (const iovec& v : iov) {
    const IoResult r = WriteAllAt(h, static_cast<const uint8_t*>(v.iov_base), v.iov_len, at, "pwritev");
    if (!r.ok()) return r;
    at += v.iov_len;
  }
  return Ok(static_cast<int64_t>(at - static_cast<uint64_t>(offset)));
}

IoResult PreadFull(int fd, uint8_t* data, size_t length, int64_t offset) {
  const HANDLE h = Table().Get(fd);
  if (h == INVALID_HANDLE_VALUE) return Fail("pread", EBADF);
  size_t done = 0;
  int interrupted = 0;
  while (done < length) {
    // A test build's hook may fail this read or shorten it (test_hooks.h). Windows has no EINTR:
    // an injected one is read again, as the POSIX loop does, and as often.
    const int injected = InjectedError(CommitStep::kRead);
    if (injected == EINTR && ++interrupted < kMaxEintrInARow) continue;
    if (injected > 0) return Fail("pread", injected);
    const DWORD chunk = injected == kShortRead ? 1 : static_cast<DWORD>(length - done < kMaxIo ? length - done : kMaxIo);
    OVERLAPPED ov = At(static_cast<uint64_t>(offset) + done);
    DWORD n = 0;
    if (!ReadFile(h, data + done, chunk, &n, &ov)) {
      if (GetLastError() == ERROR_HANDLE_EOF) break;  // reading at or past the end
      return LastError("pread");
    }
    if (n == 0) break;
    interrupted = 0;
    done += n;
  }
  return Ok(static_cast<int64_t>(done));
}

IoResult Fallocate(int fd, int64_t offset, int64_t length) {
  const HANDLE h = Table().Get(fd);
  if (h == INVALID_HANDLE_VALUE) return Fail("fallocate", EBADF);
  if (length == 0) return Fail("fallocate", EINVAL);  // as fallocate(2)
  LARGE_INTEGER size;
  if (!GetFileSizeEx(h, &size)) return LastError("fallocate");
  const int64_t end = offset + length;
  if (end <= size.QuadPart) return Ok();  // already inside the file
  // Reserve the clusters first (fails with ENOSPC before the size changes), then extend. A file
  // system that cannot reserve (Wine answers ERROR_CALL_NOT_IMPLEMENTED; FAT and some redirectors
  // refuse the class) gets ENOTSUP with the size unchanged, as the Backend contract asks: extending
  // without a reservation would promise space that is not there.
  FILE_ALLOCATION_INFO alloc = {};
  alloc.AllocationSize.QuadPart = end;
  if (!SetFileInformationByHandle(h, FileAllocationInfo, &alloc, sizeof alloc)) {
    const DWORD error = GetLastError();
    if (error == ERROR_CALL_NOT_IMPLEMENTED || error == ERROR_INVALID_PARAMETER || error == ERROR_NOT_SUPPORTED ||
        error == ERROR_INVALID_FUNCTION) {
      return Fail("fallocate", ENOTSUP);
    }
    return Fail("fallocate", ErrnoOf(error));
  }
  return SetFileLength(h, end, "fallocate");
}

IoResult Ftruncate(int fd, int64_t length) {
  const HANDLE h = Table().Get(fd);
  if (h == INVALID_HANDLE_VALUE) return Fail("ftruncate", EBADF);
  return SetFileLength(h, length, "ftruncate");
}

// FlushFileBuffers writes the file's data and metadata and flushes the drive's cache; there is
// no cheaper data-only form.
IoResult Fdatasync(int fd) {
  const HANDLE h = Table().Get(fd);
  if (h == INVALID_HANDLE_VALUE) return Fail("fdatasync", EBADF);
  if (!FlushFileBuffers(h)) return LastError("fdatasync");
  return Ok();
}

// No directory fsync here: a directory handle takes FlushFileBuffers only when opened for
// writing, which needs backup privileges, and NTFS keeps directory entries in its own metadata
// journal. (SQLite and LevelDB also skip it on Windows.) What remains is the check that the path
// names a directory, so callers see the same ENOENT / ENOTDIR as on POSIX.
IoResult FsyncDir(const char* path) {
  std::wstring wide;
  if (!Widen(path, &wide)) return Fail("open", EINVAL);
  const DWORD attributes = GetFileAttributesW(wide.c_str());
  if (attributes == INVALID_FILE_ATTRIBUTES) return LastError("open");
  if (!(attributes & FILE_ATTRIBUTE_DIRECTORY)) return Fail("open", ENOTDIR);
  return Ok();
}

IoResult FileSize(int fd) {
  const HANDLE h = Table().Get(fd);
  if (h == INVALID_HANDLE_VALUE) return Fail("fstat", EBADF);
  LARGE_INTEGER size;
  if (!GetFileSizeEx(h, &size)) return LastError("fstat");
  return Ok(size.QuadPart);
}

// MoveFileEx cannot replace a file that some handle still has open (ERROR_ACCESS_DENIED, even
// when that handle shares delete access). Windows 10 1607+ on NTFS can, with POSIX semantics:
// the name moves to the new file at once and open handles keep reading the old one, as on POSIX.
// Where that is unavailable (older Windows, FAT, Wine) the rename fails with EPERM and neither
// name changes.
// FILE_RENAME_INFO as FileRenameInfoEx reads it (Flags where the older layout has a BOOLEAN),
// spelled out because SDK headers only declare the Flags form for newer _WIN32_WINNT targets.
struct RenameInfoEx {
  DWORD flags;
  HANDLE root_directory;
  DWORD name_bytes;
  WCHAR name[1];
};
constexpr FILE_INFO_BY_HANDLE_CLASS kFileRenameInfoEx = static_cast<FILE_INFO_BY_HANDLE_CLASS>(22);
constexpr DWORD kRenameReplaceIfExists = 0x1, kRenamePosixSemantics = 0x2;

IoResult RenameReplacingOpenTarget(const std::wstring& from, const std::wstring& to, DWORD first_error) {
  const HANDLE h = CreateFileW(from.c_str(), DELETE | SYNCHRONIZE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                               nullptr, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, nullptr);
  if (h == INVALID_HANDLE_VALUE) return Fail("rename", ErrnoOf(first_error));
  const size_t name_bytes = to.size() * sizeof(wchar_t);
  std::vector<uint8_t> buffer(offsetof(RenameInfoEx, name) + name_bytes + sizeof(wchar_t));
  auto* info = reinterpret_cast<RenameInfoEx*>(buffer.data());
  info->flags = kRenameReplaceIfExists | kRenamePosixSemantics;
  info->name_bytes = static_cast<DWORD>(name_bytes);
  std::memcpy(info->name, to.data(), name_bytes);
  const BOOL renamed = SetFileInformationByHandle(h, kFileRenameInfoEx, info, static_cast<DWORD>(buffer.size()));
  CloseHandle(h);
  // POSIX semantics unavailable (or refused for the same reason): the first answer stands.
  return renamed ? Ok() : Fail("rename", ErrnoOf(first_error));
}

IoResult Rename(const char* from, const char* to) {
  std::wstring a, b;
  if (!Widen(from, &a) || !Widen(to, &b)) return Fail("rename", EINVAL);
  if (MoveFileExW(a.c_str(), b.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) return Ok();
  const DWORD error = GetLastError();
  if (error == ERROR_ACCESS_DENIED) return RenameReplacingOpenTarget(a, b, error);
  return Fail("rename", ErrnoOf(error));
}

IoResult Unlink(const char* path) {
  std::wstring wide;
  if (!Widen(path, &wide)) return Fail("unlink", EINVAL);
  if (!DeleteFileW(wide.c_str())) return LastError("unlink");
  return Ok();
}

IoResult Mkdir(const char* path, unsigned) {
  std::wstring wide;
  if (!Widen(path, &wide)) return Fail("mkdir", EINVAL);
  if (!CreateDirectoryW(wide.c_str(), nullptr)) return LastError("mkdir");
  return Ok();
}

IoResult TryLockExclusive(int fd) {
  const HANDLE h = Table().Get(fd);
  if (h == INVALID_HANDLE_VALUE) return Fail("flock", EBADF);
  if (Table().ExchangeLocked(fd, true)) return Ok(1);  // this descriptor holds it already
  OVERLAPPED ov = At(0);
  if (LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, MAXDWORD, MAXDWORD, &ov)) return Ok(1);
  const DWORD error = GetLastError();
  Table().ExchangeLocked(fd, false);
  if (error == ERROR_LOCK_VIOLATION || error == ERROR_IO_PENDING) return Ok(0);
  return Fail("flock", ErrnoOf(error));
}

IoResult Unlock(int fd) {
  const HANDLE h = Table().Get(fd);
  if (h == INVALID_HANDLE_VALUE) return Fail("flock", EBADF);
  if (!Table().ExchangeLocked(fd, false)) return Ok();  // not locked: nothing to release, as flock
  OVERLAPPED ov = At(0);
  if (!UnlockFileEx(h, 0, MAXDWORD, MAXDWORD, &ov) && GetLastError() != ERROR_NOT_LOCKED) return LastError("flock");
  return Ok();
}

const char* SystemErrnoName(int) { return nullptr; }  // the C runtime has no name lookup

std::string SystemErrorText(int err) {
  // The C runtime describes only the classic errno values; the POSIX supplement (100 and up) it
  // calls "Unknown error". These are the ones the calls above can return.
  switch (err) {
    case ENOTSUP:
      return "operation not supported";
    case ECANCELED:
      return "operation canceled";
#if !defined(EDQUOT)
    case kEdquot:
      return "disk quota exceeded";
#endif
    default:
      break;
  }
  char buffer[128] = {0};
  if (strerror_s(buffer, sizeof buffer, err) != 0) return "unknown error";
  return buffer;
}

}  // namespace durability

#endif  // _WIN32
