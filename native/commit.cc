// Group commit (binding.d.ts commitAsync): the whole durable step of one WAL batch (gather write
// at an offset; the zeros ahead of the log, if any, where there is room for them; optional
// ftruncate: a segment being closed drops its preallocated tail; fdatasync, then fsync of each
// listed directory) runs on the descriptor's commit thread
// (commit_thread.h), after every commit submitted before it. Steps stop at the first failure,
// which rejects the promise naming the syscall (and the directory, for a directory step). The
// event loop only queues the job and settles the promise; one JS/C++ crossing per batch
// whatever its entry count.
//
// In a test build each step first asks the fault hook (test_hooks.h) whether to fail instead.
#include "commit.h"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "commit_thread.h"
#include "env_files.h"
#include "errors.h"
#include "platform.h"

namespace durability {
namespace {

bool ArgDirs(const Napi::CallbackInfo& info, size_t index, std::vector<std::string>* out) {
  Napi::Env env = info.Env();
  const Napi::Value value = info[index];
  if (!value.IsArray()) {
    ThrowTypeError(env, "The \"dirs\" argument must be an Array of strings");
    return false;
  }
  Napi::Array dirs = value.As<Napi::Array>();
  const uint32_t count = dirs.Length();
  // A commit fsyncs the directories its files were created or renamed in: a handful. A claimed
  // length of 2^32-1 behind a Proxy would otherwise drive billions of getters and allocations.
  if (count > kMaxCommitDirs) {
    ThrowRangeError(env, "The \"dirs\" argument must hold at most " + std::to_string(kMaxCommitDirs) +
                             " paths. Received " + std::to_string(count));
    return false;
  }
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

/** The step a commit on a descriptor that is not open would fail at first, as the commit thread names it. */
const char* FirstStep(uint64_t total, double truncateTo) {
  if (total > 0) return "pwritev";
  return truncateTo >= 0 ? "ftruncate" : "fdatasync";
}

Napi::Value Rejected(napi_env env, int err, const char* syscall) {
  napi_deferred deferred;
  napi_value promise;
  if (napi_create_promise(env, &deferred, &promise) != napi_ok) return Napi::Value();
  napi_value error = MakeSysError(env, err, syscall);
  if (error == nullptr || napi_reject_deferred(env, deferred, error) != napi_ok) return Napi::Value();
  return Napi::Value(env, promise);
}

}  // namespace

Napi::Value CommitAsyncJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t offset;
  double truncateTo;
  std::vector<std::string> dirs;
  std::vector<napi_value> views;
  std::vector<iovec> iov;
  uint64_t total;
  uint64_t zeroChunks;
  // The chunks last: reading dirs can run an index getter, which must not find chunk bytes
  // already located (args.h ArgChunks).
  if (!ArgFd(info, 0, &fd) || !ArgFileOffset(info, 2, "offset", &offset) ||
      !IntegerArg(env, info[3], "truncateTo", -1, 9007199254740991.0, &truncateTo) || !ArgDirs(info, 4, &dirs) ||
      !ArgUint(info, 5, "zeroChunks", kMaxChunks, 0, &zeroChunks) || !ArgChunks(info, 1, "chunks", &iov, &total, &views)) {
    return Napi::Value();
  }
  if (zeroChunks > iov.size()) {
    ThrowRangeError(env, "The \"zeroChunks\" argument must be at most the number of chunks (" + std::to_string(iov.size()) +
                             "). Received " + std::to_string(zeroChunks));
    return Napi::Value();
  }
  if (static_cast<double>(offset) + static_cast<double>(total) > 9007199254740991.0) {
    ThrowRangeError(env, "The chunks would end past the largest safe file offset");
    return Napi::Value();
  }
  EnvFiles& files = FilesOf(env);
  // Only close() stops a commit thread: one started for a number this environment did not open
  // would never stop, and would hand its failure to the next file given that number.
  if (!files.IsOpen(fd)) return Rejected(env, EBADF, FirstStep(total, truncateTo));
  CommitThread* thread = files.CommitsFor(fd);
  if (thread == nullptr) return Napi::Value();
  CommitJob* job = new CommitJob();
  napi_value promise = nullptr;
  bool created = napi_create_promise(env, &job->deferred, &promise) == napi_ok;
  job->chunks.reserve(views.size());
  for (size_t i = 0; created && i < views.size(); ++i) {
    napi_ref ref;
    created = napi_create_reference(env, views[i], 1, &ref) == napi_ok;
    if (created) job->chunks.push_back(ref);
  }
  if (!created) {
    // A failed create leaves its exception pending; a created promise is only collected.
    for (napi_ref ref : job->chunks) napi_delete_reference(env, ref);
    delete job;
    return Napi::Value();
  }
  // The zeros ahead of the log (binding.d.ts): a step of their own (CommitThread::WriteZeros).
  job->zeros.assign(iov.end() - static_cast<std::ptrdiff_t>(zeroChunks), iov.end());
  iov.resize(iov.size() - zeroChunks);
  job->iov = std::move(iov);
  job->offset = offset;
  job->truncateTo = static_cast<int64_t>(truncateTo);
  job->dirs = std::move(dirs);
  thread->Submit(job);
  return Napi::Value(env, promise);
}

Napi::Value WaitCommitsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  CommitThread* thread = FilesOf(env).CommitsIfAny(fd);
  if (thread == nullptr) return env.Undefined();
  std::string path;
  const IoResult r = thread->WaitIdle(&path);
  if (!r.ok()) {
    ThrowSysError(env, r.err, r.syscall, path.empty() ? nullptr : path.c_str());
    return Napi::Value();
  }
  return env.Undefined();
}

Napi::Value CommitStatsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CommitTotals t = CommitStatsSnapshot();
  Napi::Object stats = Napi::Object::New(env);
  stats.Set("commits", Napi::Number::New(env, t.commits));
  stats.Set("writeNs", Napi::Number::New(env, t.writeNs));
  stats.Set("syncNs", Napi::Number::New(env, t.syncNs));
  stats.Set("wakeNs", Napi::Number::New(env, t.wakeNs));
  return stats;
}

}  // namespace durability
