// Group commit (binding.d.ts commitAsync): the whole durable step of one WAL batch runs as ONE
// work item on libuv's thread pool: gather write at an offset, optional ftruncate (a segment
// being closed drops its preallocated tail), fdatasync, then fsync of each listed directory.
// Steps run in that order and stop at the first failure, which rejects the promise naming the
// syscall (and the directory, for a directory step). The event loop only queues the item and
// settles the promise; one JS/C++ crossing per batch whatever its entry count.
//
// In a test build each step first asks the fault hook (test_hooks.h) whether to fail instead.
#include "commit.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "env_files.h"
#include "errors.h"
#include "platform.h"
#include "promise_worker.h"
#include "test_hooks.h"

namespace durability {
namespace {

IoResult Injected(int err, const char* syscall) {
  IoResult r;
  r.err = err;
  r.syscall = syscall;
  return r;
}

class CommitWorker final : public PromiseWorker {
 public:
  CommitWorker(Napi::Env env, Napi::Array chunks, int fd, std::vector<iovec> iov, int64_t offset, int64_t truncateTo,
               std::vector<std::string> dirs)
      : PromiseWorker(env, "durability.commit"),
        keep_(Napi::Persistent(chunks)),
        fd_(fd),
        iov_(std::move(iov)),
        offset_(offset),
        truncateTo_(truncateTo),
        dirs_(std::move(dirs)) {}

  void Execute() override {
    int err;
    bool wrote = false;
    for (const iovec& v : iov_) wrote = wrote || v.iov_len > 0;
    if (wrote) {
      err = InjectedError(CommitStep::kWrite);
      result_ = err != 0 ? Injected(err, "pwritev") : PwritevAll(fd_, iov_, offset_);
      if (!result_.ok()) return;
    }
    if (truncateTo_ >= 0) {
      err = InjectedError(CommitStep::kTruncate);
      result_ = err != 0 ? Injected(err, "ftruncate") : Ftruncate(fd_, truncateTo_);
      if (!result_.ok()) return;
    }
    err = InjectedError(CommitStep::kFdatasync);
    result_ = err != 0 ? Injected(err, "fdatasync") : Fdatasync(fd_);
    if (!result_.ok()) return;
    for (const std::string& dir : dirs_) {
      err = InjectedError(CommitStep::kFsyncDir);
      result_ = err != 0 ? Injected(err, "fsync") : FsyncDir(dir.c_str());
      if (!result_.ok()) {
        path_ = dir;  // the rejection names the directory
        return;
      }
    }
  }

 private:
  Napi::Reference<Napi::Array> keep_;  // the chunk views stay alive until the write is done (async_ops.cc)
  int fd_;
  std::vector<iovec> iov_;
  int64_t offset_;
  int64_t truncateTo_;  // -1: no truncation
  std::vector<std::string> dirs_;
};

bool ArgDirs(const Napi::CallbackInfo& info, size_t index, std::vector<std::string>* out) {
  Napi::Env env = info.Env();
  const Napi::Value value = info[index];
  if (!value.IsArray()) {
    ThrowTypeError(env, "The \"dirs\" argument must be an Array of strings");
    return false;
  }
  Napi::Array dirs = value.As<Napi::Array>();
  const uint32_t count = dirs.Length();
  for (uint32_t i = 0; i < count; ++i) {
    Napi::Value dir = dirs.Get(i);
    if (env.IsExceptionPending()) return false;
    if (!dir.IsString()) {
      ThrowTypeError(env, "The \"dirs[" + std::to_string(i) + "]\" argument must be of type string");
      return false;
    }
    std::string path = dir.As<Napi::String>().Utf8Value();
    if (path.empty() || path.find('\0') != std::string::npos) {
      ThrowTypeError(env, "The \"dirs[" + std::to_string(i) + "]\" argument must be a non-empty string without null bytes");
      return false;
    }
    out->push_back(std::move(path));
  }
  return true;
}

}  // namespace

Napi::Value CommitAsyncJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  std::vector<iovec> iov;
  uint64_t total;
  Napi::Array holder;
  int64_t offset;
  double truncateTo;
  std::vector<std::string> dirs;
  if (!ArgFd(info, 0, &fd) || !ArgChunks(info, 1, "chunks", &iov, &total, &holder) ||
      !ArgFileOffset(info, 2, "offset", &offset) ||
      !IntegerArg(env, info[3], "truncateTo", -1, 9007199254740991.0, &truncateTo) || !ArgDirs(info, 4, &dirs)) {
    return Napi::Value();
  }
  if (static_cast<double>(offset) + static_cast<double>(total) > 9007199254740991.0) {
    ThrowRangeError(env, "The chunks would end past the largest safe file offset");
    return Napi::Value();
  }
  return PromiseWorker::Start(new CommitWorker(env, holder, fd, std::move(iov), offset,
                                               static_cast<int64_t>(truncateTo), std::move(dirs)));
}

}  // namespace durability
