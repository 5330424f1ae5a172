// See commit_thread.h.
#include "commit_thread.h"

#include <cerrno>
#include <chrono>
#include <utility>

#include "env_files.h"
#include "errors.h"
#include "test_hooks.h"
#include "win32_errno.h"

namespace durability {
namespace {

// How long the thread polls for the next commit before it sleeps: longer than the event loop
// takes to wake, resolve one caller and queue its next commit (≈ 40 µs here), short enough that
// an idle writer costs nothing measurable.
constexpr int64_t kSpinNs = 100 * 1000;

std::atomic<int64_t> totalCommits{0}, totalWriteNs{0}, totalSyncNs{0}, totalWakeNs{0};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

IoResult Injected(int err, const char* syscall) {
  IoResult r;
  r.err = err;
  r.syscall = syscall;
  return r;
}

/**
 * A failure for want of room (lib/backend/no-room.ts): the disk (ENOSPC) or the user's quota
 * (EDQUOT) is full, or the bytes would pass the largest file allowed (EFBIG: RLIMIT_FSIZE, whose
 * SIGXFSZ Node ignores, or the file system's limit).
 */
bool NoRoom(int err) { return err == ENOSPC || err == kEdquot || err == EFBIG; }

/** fallocate answers that the file system cannot reserve (as lib/directory/fs.ts NO_PREALLOCATION). */
bool CannotReserve(int err) {
  return err == EOPNOTSUPP || err == ENOTSUP || err == EINVAL || err == ENOSYS;
}

/** Frees what a job holds in JS (its chunk references) and the job. JS thread, or teardown. */
void Drop(napi_env env, CommitJob* job) {
  if (env != nullptr) {
    for (napi_ref chunk : job->chunks) napi_delete_reference(env, chunk);
  }
  delete job;
}

}  // namespace

CommitTotals CommitStatsSnapshot() {
  return CommitTotals{static_cast<double>(totalCommits.load()), static_cast<double>(totalWriteNs.load()),
                      static_cast<double>(totalSyncNs.load()), static_cast<double>(totalWakeNs.load())};
}

CommitThread::CommitThread(napi_env env, int fd) : env_(env), fd_(fd) {}

CommitThread::~CommitThread() = default;

CommitThread* CommitThread::Start(napi_env env, int fd) {
  CommitThread* self = new CommitThread(env, fd);
  napi_value name = nullptr;
  napi_create_string_utf8(env, "durability.commit", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, self, &CommitThread::Finalize, self,
                                      &CommitThread::CallJs, &self->tsfn_) != napi_ok) {
    delete self;
    ThrowSysError(Napi::Env(env), ENOMEM, "commitAsync");
    return nullptr;
  }
  // Referenced only while commits are outstanding: an idle writer does not keep the process alive.
  napi_unref_threadsafe_function(env, self->tsfn_);
  const int err = StartThread(&CommitThread::RunThread, self, &self->thread_);
  if (err != 0) {
    self->joined_ = true;  // there is no thread to join
    napi_release_threadsafe_function(self->tsfn_, napi_tsfn_abort);  // the finalizer deletes self
    ThrowSysError(Napi::Env(env), err, "pthread_create");
    return nullptr;
  }
  return self;
}

void CommitThread::Submit(CommitJob* job) {
  if (outstanding_++ == 0) napi_ref_threadsafe_function(env_, tsfn_);
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_.push_back(job);
    queuedCount_.store(static_cast<uint32_t>(queued_.size()), std::memory_order_release);
    wake = sleeping_;
  }
  if (wake) wake_.notify_one();
}

void CommitThread::RunThread(void* self) { static_cast<CommitThread*>(self)->Run(); }

void CommitThread::Run() {
  for (;;) {
    // Poll first (see kSpinNs), then sleep until a job or the stop arrives.
    const int64_t spinUntil = NowNs() + kSpinNs;
    while (queuedCount_.load(std::memory_order_acquire) == 0 && NowNs() < spinUntil) {
    }
    CommitJob* job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      sleeping_ = true;
      wake_.wait(lock, [this] { return stop_ || !queued_.empty(); });
      sleeping_ = false;
      if (queued_.empty()) return;  // stopping, and every queued job ran
      job = queued_.front();
      queued_.pop_front();
      running_ = true;
      queuedCount_.store(static_cast<uint32_t>(queued_.size()), std::memory_order_release);
    }
    Execute(job);
    Completed(job);
  }
}

void CommitThread::Execute(CommitJob* job) {
  if (!failure_.ok()) {
    job->result = failure_;
    job->path = failurePath_;
    return;
  }
  const int64_t start = NowNs();
  IoResult& r = job->result;
  int err;
  int64_t bytes = 0;
  for (const iovec& v : job->iov) bytes += static_cast<int64_t>(v.iov_len);
  if (bytes > 0) {
    err = InjectedError(CommitStep::kWrite);
    r = err != 0 ? Injected(err, "pwritev") : PwritevAll(fd_, job->iov, job->offset);
  }
  if (r.ok() && !job->zeros.empty()) r = WriteZeros(job, job->offset + bytes);
  const int64_t written = NowNs();
  if (r.ok() && job->truncateTo >= 0) {
    err = InjectedError(CommitStep::kTruncate);
    r = err != 0 ? Injected(err, "ftruncate") : Ftruncate(fd_, job->truncateTo);
  }
  if (r.ok()) {
    err = InjectedError(CommitStep::kFdatasync);
    r = err != 0 ? Injected(err, "fdatasync") : Fdatasync(fd_);
  }
  for (size_t i = 0; r.ok() && i < job->dirs.size(); ++i) {
    err = InjectedError(CommitStep::kFsyncDir);
    r = err != 0 ? Injected(err, "fsync") : FsyncDir(job->dirs[i].c_str());
    if (!r.ok()) job->path = job->dirs[i];  // the rejection names the directory
  }
  job->endNs = NowNs();
  job->writeNs = written - start;
  job->syncNs = job->endNs - written;
  if (!r.ok()) {
    failure_ = r;
    failurePath_ = job->path;
  }
}

// The zeros are an optimisation, not data: their range is reserved first, so their write lands
// in blocks the file owns and its writeback cannot run out of room; where the reservation (or, on
// a file system that cannot reserve, the write) finds no room they are left out and the commit
// goes on. What part of them reached the file is zeros past the frames, a clean end.
IoResult CommitThread::WriteZeros(CommitJob* job, int64_t at) {
  int64_t length = 0;
  for (const iovec& v : job->zeros) length += static_cast<int64_t>(v.iov_len);
  if (length == 0) return IoResult{};
  int err = InjectedError(CommitStep::kAllocate);
  IoResult r = err != 0 ? Injected(err, "fallocate") : Fallocate(fd_, at, length);
  if (r.ok() || CannotReserve(r.err)) {
    err = InjectedError(CommitStep::kZeros);
    r = err != 0 ? Injected(err, "pwritev") : PwritevAll(fd_, job->zeros, at);
  }
  if (r.ok() || !NoRoom(r.err)) return r;
  job->zerosSkipped = true;
  return IoResult{};
}

void CommitThread::Completed(CommitJob* job) {
  bool notify;
  bool idle;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_.push_back(job);
    notify = !notifyPending_;
    notifyPending_ = true;
    running_ = false;
    idle = queued_.empty();
  }
  if (idle) idle_.notify_all();
  // One call per burst: the call settles every job done by the time it runs.
  if (notify) napi_call_threadsafe_function(tsfn_, nullptr, napi_tsfn_nonblocking);
}

void CommitThread::CallJs(napi_env env, napi_value, void* context, void*) {
  // env is null when the function is torn down with calls pending: the finalizer drops the jobs.
  if (env == nullptr || EnvStopping(env)) return;
  static_cast<CommitThread*>(context)->Deliver(env);
}

void CommitThread::Deliver(napi_env env) {
  std::vector<CommitJob*> done;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done.swap(done_);
    notifyPending_ = false;
  }
  const int64_t now = NowNs();
  for (CommitJob* job : done) {
    if (job->result.ok() && job->endNs > 0) {
      totalCommits.fetch_add(1, std::memory_order_relaxed);
      totalWriteNs.fetch_add(job->writeNs, std::memory_order_relaxed);
      totalSyncNs.fetch_add(job->syncNs, std::memory_order_relaxed);
      totalWakeNs.fetch_add(now - job->endNs, std::memory_order_relaxed);
    }
    napi_status status = napi_generic_failure;
    if (job->result.ok()) {
      napi_value value = nullptr;
      const napi_status made = job->zerosSkipped ? napi_create_string_utf8(env, "zeros-skipped", NAPI_AUTO_LENGTH, &value)
                                                 : napi_get_undefined(env, &value);
      if (made == napi_ok) status = napi_resolve_deferred(env, job->deferred, value);
    } else {
      napi_value error =
          MakeSysError(env, job->result.err, job->result.syscall, job->path.empty() ? nullptr : job->path.c_str());
      if (error != nullptr) status = napi_reject_deferred(env, job->deferred, error);
    }
    CountCompletion(status == napi_ok ? Completion::kSettled : Completion::kSettleFailed);
    Drop(env, job);
    if (--outstanding_ == 0) napi_unref_threadsafe_function(env, tsfn_);
  }
}

IoResult CommitThread::WaitIdle(std::string* path) {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [this] { return queued_.empty() && !running_; });
  // failure_ is written by the thread before it marks the job done under the lock.
  if (path != nullptr) *path = failurePath_;
  return failure_;
}

void CommitThread::StopAndJoin() {
  if (joined_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  JoinThread(&thread_);
  joined_ = true;
}

void CommitThread::Shutdown() {
  StopAndJoin();
  Deliver(env_);
  napi_release_threadsafe_function(tsfn_, napi_tsfn_release);  // the finalizer deletes this
}

void CommitThread::Abandon() {
  StopAndJoin();
  std::lock_guard<std::mutex> lock(mutex_);
  for (CommitJob* job : done_) {
    CountCompletion(Completion::kDropped);
    Drop(env_, job);
  }
  done_.clear();
}

void CommitThread::Finalize(napi_env env, void* data, void*) {
  CommitThread* self = static_cast<CommitThread*>(data);
  // At environment teardown the finalizer can come before the descriptor cleanup (env_files.h):
  // the thread must be gone before this object is.
  self->Abandon();
  ForgetCommitThread(env, self);
  delete self;
}

}  // namespace durability
