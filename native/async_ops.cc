// Promise forms. Arguments are checked synchronously (TypeError/RangeError before anything is
// queued); the syscall runs on libuv's thread pool in Execute, which only sees raw pointers and
// plain values; the JS buffers stay referenced by the worker until it settles its promise.
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "bindings.h"
#include "env_files.h"
#include "errors.h"
#include "platform.h"
#include "promise_worker.h"

namespace durability {
namespace {

/** Resolves with the byte count. */
class CountWorker : public PromiseWorker {
 protected:
  using PromiseWorker::PromiseWorker;
  napi_value Resolution(napi_env env) override {
    napi_value n = nullptr;
    napi_create_double(env, static_cast<double>(result_.value), &n);
    return n;
  }
};

class PwriteWorker final : public CountWorker {
 public:
  PwriteWorker(Napi::Env env, Napi::Object buffer, int fd, Bytes data, int64_t offset)
      : CountWorker(env, "durability.pwrite"), keep_(Napi::Persistent(buffer)), fd_(fd), data_(data), offset_(offset) {}
  void Execute() override { result_ = PwriteAll(fd_, data_.data, data_.length, offset_); }

 private:
  Napi::ObjectReference keep_;
  int fd_;
  Bytes data_;
  int64_t offset_;
};

class PwritevWorker final : public CountWorker {
 public:
  PwritevWorker(Napi::Env env, Napi::Array chunks, int fd, std::vector<iovec> iov, int64_t offset)
      : CountWorker(env, "durability.pwritev"), keep_(Napi::Persistent(chunks)), fd_(fd), iov_(std::move(iov)),
        offset_(offset) {}
  void Execute() override { result_ = PwritevAll(fd_, iov_, offset_); }

 private:
  Napi::Reference<Napi::Array> keep_;
  int fd_;
  std::vector<iovec> iov_;
  int64_t offset_;
};

class PreadWorker final : public CountWorker {
 public:
  PreadWorker(Napi::Env env, Napi::Object buffer, int fd, Bytes target, int64_t offset)
      : CountWorker(env, "durability.pread"), keep_(Napi::Persistent(buffer)), fd_(fd), target_(target),
        offset_(offset) {}
  void Execute() override { result_ = PreadFull(fd_, target_.data, target_.length, offset_); }

 private:
  Napi::ObjectReference keep_;
  int fd_;
  Bytes target_;
  int64_t offset_;
};

class FallocateWorker final : public PromiseWorker {
 public:
  FallocateWorker(Napi::Env env, int fd, int64_t offset, int64_t length)
      : PromiseWorker(env, "durability.fallocate"), fd_(fd), offset_(offset), length_(length) {}
  void Execute() override { result_ = Fallocate(fd_, offset_, length_); }

 private:
  int fd_;
  int64_t offset_;
  int64_t length_;
};

class FdWorker final : public PromiseWorker {
 public:
  FdWorker(Napi::Env env, const char* name, IoResult (*op)(int), int fd) : PromiseWorker(env, name), op_(op), fd_(fd) {}
  void Execute() override { result_ = op_(fd_); }

 private:
  IoResult (*op_)(int);
  int fd_;
};

class FsyncDirWorker final : public PromiseWorker {
 public:
  FsyncDirWorker(Napi::Env env, std::string path) : PromiseWorker(env, "durability.fsyncDir") {
    path_ = std::move(path);
  }
  void Execute() override { result_ = FsyncDir(path_.c_str()); }
};

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

Napi::Value PwritevAsyncJs(const Napi::CallbackInfo& info) {
  int fd;
  std::vector<iovec> iov;
  uint64_t total;
  Napi::Array holder;
  int64_t offset;
  if (!ArgFd(info, 0, &fd) || !ArgChunks(info, 1, "chunks", &iov, &total, &holder) ||
      !ArgFileOffset(info, 2, "offset", &offset)) {
    return Napi::Value();
  }
  return PromiseWorker::Start(new PwritevWorker(info.Env(), holder, fd, std::move(iov), offset));
}

Napi::Value PreadAsyncJs(const Napi::CallbackInfo& info) {
  int fd;
  Bytes target;
  Napi::Object holder;
  int64_t offset;
  if (!ArgFd(info, 0, &fd) || !ArgBytes(info, 1, "target", &target, &holder) ||
      !ArgFileOffset(info, 2, "offset", &offset)) {
    return Napi::Value();
  }
  return PromiseWorker::Start(new PreadWorker(info.Env(), holder, fd, target, offset));
}

Napi::Value FallocateAsyncJs(const Napi::CallbackInfo& info) {
  int fd;
  int64_t offset;
  int64_t length;
  if (!ArgFd(info, 0, &fd) || !ArgFileOffset(info, 1, "offset", &offset) ||
      !ArgFileOffset(info, 2, "length", &length)) {
    return Napi::Value();
  }
  return PromiseWorker::Start(new FallocateWorker(info.Env(), fd, offset, length));
}

Napi::Value FdatasyncAsyncJs(const Napi::CallbackInfo& info) {
  return FdAsync(info, "durability.fdatasync", &Fdatasync);
}

Napi::Value FsyncAsyncJs(const Napi::CallbackInfo& info) { return FdAsync(info, "durability.fsync", &Fsync); }

Napi::Value FsyncDirAsyncJs(const Napi::CallbackInfo& info) {
  std::string path;
  if (!ArgPath(info, 0, "path", &path)) return Napi::Value();
  return PromiseWorker::Start(new FsyncDirWorker(info.Env(), std::move(path)));
}

}  // namespace durability
