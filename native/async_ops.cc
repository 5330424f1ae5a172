// Promise forms. Arguments are checked synchronously (TypeError/RangeError before anything is
// queued); the syscall runs on libuv's thread pool in Execute, which only sees raw pointers and
// plain values. The worker references the JS view until it settles its promise, which keeps the
// view alive but not its bytes: a transfer (postMessage, structuredClone) detaches the view and
// hands the bytes to a new owner that may free them. So callers pass bytes only they can reach:
// lib/backend/native.ts copies a caller's buffers before calling here (binding.d.ts).
#include <string>
#include <utility>

#include "args.h"
#include "bindings.h"
#include "env_files.h"
#include "errors.h"
#include "platform.h"
#include "promise_worker.h"

namespace durability {
namespace {

/** Resolves with the byte count. */
class PwriteWorker final : public PromiseWorker {
 public:
  PwriteWorker(Napi::Env env, Napi::Object buffer, int fd, Bytes data, int64_t offset)
      : PromiseWorker(env, "durability.pwrite"), keep_(Napi::Persistent(buffer)), fd_(fd), data_(data), offset_(offset) {}
  void Execute() override { result_ = PwriteAll(fd_, data_.data, data_.length, offset_); }

 protected:
  napi_value Resolution(napi_env env) override {
    napi_value n = nullptr;
    napi_create_double(env, static_cast<double>(result_.value), &n);
    return n;
  }

 private:
  Napi::ObjectReference keep_;
  int fd_;
  Bytes data_;
  int64_t offset_;
};

class FdWorker final : public PromiseWorker {
 public:
  FdWorker(Napi::Env env, const char* name, IoResult (*op)(int), int fd) : PromiseWorker(env, name), op_(op), fd_(fd) {}
  void Execute() override { result_ = op_(fd_); }

 private:
  IoResult (*op_)(int);
  int fd_;
};

class PathWorker final : public PromiseWorker {
 public:
  PathWorker(Napi::Env env, const char* name, IoResult (*op)(const char*), std::string path)
      : PromiseWorker(env, name), op_(op) {
    path_ = std::move(path);
  }
  void Execute() override { result_ = op_(path_.c_str()); }

 private:
  IoResult (*op_)(const char*);
};

Napi::Value PathAsync(const Napi::CallbackInfo& info, const char* name, IoResult (*op)(const char*)) {
  std::string path;
  if (!ArgPath(info, 0, "path", &path)) return Napi::Value();
  return PromiseWorker::Start(new PathWorker(info.Env(), name, op, std::move(path)));
}

Napi::Value FdAsync(const Napi::CallbackInfo& info, const char* name, IoResult (*op)(int)) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  return PromiseWorker::Start(new FdWorker(info.Env(), name, op, fd));
}

}  // namespace

Napi::Value PwriteAsyncJs(const Napi::CallbackInfo& info) {
  int fd;
  Bytes data;
  Napi::Object holder;
  int64_t offset;
  if (!ArgFd(info, 0, &fd) || !ArgBytes(info, 1, "data", &data, &holder) ||
      !ArgFileOffset(info, 2, "offset", &offset)) {
    return Napi::Value();
  }
  return PromiseWorker::Start(new PwriteWorker(info.Env(), holder, fd, data, offset));
}

Napi::Value FdatasyncAsyncJs(const Napi::CallbackInfo& info) {
  return FdAsync(info, "durability.fdatasync", &Fdatasync);
}

Napi::Value FsyncDirAsyncJs(const Napi::CallbackInfo& info) {
  return PathAsync(info, "durability.fsyncDir", &FsyncDir);
}

// Unlinking a large file frees its blocks inside the call (milliseconds per 64 MiB where the file
// system discards freed blocks as it goes: ext4 mounted with -o discard), so a checkpoint's
// truncation and pruning unlink here, off the event loop.
Napi::Value UnlinkAsyncJs(const Napi::CallbackInfo& info) {
  return PathAsync(info, "durability.unlink", &Unlink);
}

}  // namespace durability
