// Synchronous file bindings: validate, call the platform layer, throw a Node-style error on failure.
#include <string>
#include <vector>

#include "args.h"
#include "bindings.h"
#include "env_files.h"
#include "errors.h"
#include "platform.h"

namespace durability {
namespace {

constexpr uint64_t kModeMax = 07777;

/** Undefined on success, else throws; `path`/`dest` name the files in the error. */
Napi::Value Done(Napi::Env env, const IoResult& r, const char* path = nullptr, const char* dest = nullptr) {
  if (!r.ok()) {
    ThrowSysError(env, r.err, r.syscall, path, dest);
    return Napi::Value();
  }
  return env.Undefined();
}

Napi::Value Count(Napi::Env env, const IoResult& r) {
  if (!r.ok()) {
    ThrowSysError(env, r.err, r.syscall);
    return Napi::Value();
  }
  return Napi::Number::New(env, static_cast<double>(r.value));
}

Napi::Value FdOnly(const Napi::CallbackInfo& info, IoResult (*op)(int)) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  return Done(info.Env(), op(fd));
}

Napi::Value PathOnly(const Napi::CallbackInfo& info, IoResult (*op)(const char*)) {
  std::string path;
  if (!ArgPath(info, 0, "path", &path)) return Napi::Value();
  return Done(info.Env(), op(path.c_str()), path.c_str());
}

}  // namespace

Napi::Value OpenJs(const Napi::CallbackInfo& info) {
  std::string path;
  int32_t flags;
  uint64_t mode;
  if (!ArgPath(info, 0, "path", &path) || !ArgInt32(info, 1, "flags", &flags) ||
      !ArgUint(info, 2, "mode", kModeMax, 0666, &mode)) {
    return Napi::Value();
  }
  const IoResult r = OpenFile(path.c_str(), flags, static_cast<unsigned>(mode));
  if (!r.ok()) return Done(info.Env(), r, path.c_str());
  FilesOf(info.Env()).Opened(static_cast<int>(r.value));
  return Napi::Number::New(info.Env(), static_cast<double>(r.value));
}

Napi::Value CloseJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  FilesOf(info.Env()).StopCommits(fd);  // its commit thread is done with it before it closes
  const IoResult r = CloseFd(fd);
  FilesOf(info.Env()).Closed(fd);  // released even when close reports an error (EIO after the release)
  return Done(info.Env(), r);
}

Napi::Value PwriteJs(const Napi::CallbackInfo& info) {
  int fd;
  Bytes data;
  int64_t offset;
  if (!ArgFd(info, 0, &fd) || !ArgBytes(info, 1, "data", &data) || !ArgFileOffset(info, 2, "offset", &offset)) {
    return Napi::Value();
  }
  return Count(info.Env(), PwriteAll(fd, data.data, data.length, offset));
}

Napi::Value PwritevJs(const Napi::CallbackInfo& info) {
  int fd;
  std::vector<iovec> iov;
  uint64_t total;
  int64_t offset;
  if (!ArgFd(info, 0, &fd) || !ArgChunks(info, 1, "chunks", &iov, &total) ||
      !ArgFileOffset(info, 2, "offset", &offset)) {
    return Napi::Value();
  }
  return Count(info.Env(), PwritevAll(fd, iov, offset));
}

Napi::Value PreadJs(const Napi::CallbackInfo& info) {
  int fd;
  Bytes target;
  int64_t offset;
  if (!ArgFd(info, 0, &fd) || !ArgBytes(info, 1, "target", &target) || !ArgFileOffset(info, 2, "offset", &offset)) {
    return Napi::Value();
  }
  return Count(info.Env(), PreadFull(fd, target.data, target.length, offset));
}

Napi::Value FallocateJs(const Napi::CallbackInfo& info) {
  int fd;
  int64_t offset;
  int64_t length;
  if (!ArgFd(info, 0, &fd) || !ArgFileOffset(info, 1, "offset", &offset) ||
      !ArgFileOffset(info, 2, "length", &length)) {
    return Napi::Value();
  }
  return Done(info.Env(), Fallocate(fd, offset, length));
}

Napi::Value FtruncateJs(const Napi::CallbackInfo& info) {
  int fd;
  int64_t length;
  if (!ArgFd(info, 0, &fd) || !ArgFileOffset(info, 1, "length", &length)) return Napi::Value();
  return Done(info.Env(), Ftruncate(fd, length));
}

Napi::Value FdatasyncJs(const Napi::CallbackInfo& info) { return FdOnly(info, &Fdatasync); }

Napi::Value FsyncDirJs(const Napi::CallbackInfo& info) { return PathOnly(info, &FsyncDir); }

Napi::Value FileSizeJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  return Count(info.Env(), FileSize(fd));
}

Napi::Value RenameJs(const Napi::CallbackInfo& info) {
  std::string from;
  std::string to;
  if (!ArgPath(info, 0, "from", &from) || !ArgPath(info, 1, "to", &to)) return Napi::Value();
  return Done(info.Env(), Rename(from.c_str(), to.c_str()), from.c_str(), to.c_str());
}

Napi::Value UnlinkJs(const Napi::CallbackInfo& info) { return PathOnly(info, &Unlink); }

Napi::Value MkdirJs(const Napi::CallbackInfo& info) {
  std::string path;
  uint64_t mode;
  if (!ArgPath(info, 0, "path", &path) || !ArgUint(info, 1, "mode", kModeMax, 0777, &mode)) return Napi::Value();
  return Done(info.Env(), Mkdir(path.c_str(), static_cast<unsigned>(mode)), path.c_str());
}

Napi::Value TryLockExclusiveJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  const IoResult r = TryLockExclusive(fd);
  if (!r.ok()) return Done(info.Env(), r);
  if (r.value == 1) FilesOf(info.Env()).Locked(fd);
  return Napi::Boolean::New(info.Env(), r.value == 1);
}

Napi::Value UnlockJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  const IoResult r = Unlock(fd);
  if (r.ok()) FilesOf(info.Env()).Unlocked(fd);
  return Done(info.Env(), r);
}

}  // namespace durability
