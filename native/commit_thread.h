// The commit thread of one descriptor (binding.d.ts commitAsync). Group commits of a WAL segment
// follow each other back to back: the next batch is queued while the current one is on the disk.
// A thread of the pool per commit would leave the disk idle for two thread hops and the event
// loop's turn between batches; this thread instead takes the next queued commit the moment the
// previous fdatasync returns, so the disk waits for nothing but the disk.
//
// Order is the contract: commits run one at a time in submission order, each step (gather write,
// ftruncate, fdatasync, directory fsyncs) after the previous commit's fdatasync returned, so at
// most one commit's bytes are ever written and not yet synced. The first failure fails its commit
// and every commit queued or submitted after it with the same error, without running them: once
// an fdatasync failed, nothing later may be written behind it.
//
// JS learns of completions through one thread-safe function, called at most once while a call is
// pending: a burst of completions costs the event loop one wake-up, and settles in order.
// The thread spins briefly for the next commit before it sleeps: with one producer the next
// commit arrives within the event loop's turn, and a futex wake-up would cost as much.
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "platform.h"
#include "threads.h"

namespace durability {

/** One commitAsync call: its steps, and what settles it on the JS thread. */
struct CommitJob {
  std::vector<iovec> iov;
  // Zeros ahead of the log, written after `iov` where the file system has room (WriteZeros).
  std::vector<iovec> zeros;
  int64_t offset = 0;
  int64_t truncateTo = -1;  // -1: no truncation
  std::vector<std::string> dirs;
  napi_deferred deferred = nullptr;
  std::vector<napi_ref> chunks;  // keep the chunk views alive until the job is settled
  // Filled by the thread.
  IoResult result;
  bool zerosSkipped = false;  // `zeros` found no room and were left out
  std::string path;  // the directory a failed directory step names
  int64_t writeNs = 0;
  int64_t syncNs = 0;  // fdatasync (and ftruncate, directory fsyncs)
  int64_t endNs = 0;   // steady clock when its last step returned
};

/** Process-wide totals of completed commits (commitStats binding): the per-round breakdown of the bench. */
struct CommitTotals {
  double commits, writeNs, syncNs, wakeNs;
};
CommitTotals CommitStatsSnapshot();

class CommitThread {
 public:
  /** Starts the thread; nullptr (with a JS exception pending) if it could not be started. */
  static CommitThread* Start(napi_env env, int fd);

  int fd() const { return fd_; }

  /** Queues a job; it is settled later, on the JS thread, in submission order. JS thread only. */
  void Submit(CommitJob* job);

  /**
   * Stops and joins the thread (commits already queued run first) and settles what completed.
   * Then releases the thread-safe function, whose finalizer deletes this object. JS thread only.
   */
  void Shutdown();

  /** Environment teardown: stops and joins the thread and drops every job without touching JS. */
  void Abandon();

  /**
   * Blocks until every job submitted so far has run (JS may not have settled them yet) and
   * returns the thread's first failure, if any (`path`: the directory it names, if any): a
   * synchronous operation on the descriptor then sees the file as the queued commits left it.
   * JS thread only.
   */
  IoResult WaitIdle(std::string* path);

 private:
  CommitThread(napi_env env, int fd);
  ~CommitThread();
  void Run();
  void Execute(CommitJob* job);
  IoResult WriteZeros(CommitJob* job, int64_t at);
  void Completed(CommitJob* job);
  void Deliver(napi_env env);
  void StopAndJoin();
  static void RunThread(void* self);
  static void CallJs(napi_env env, napi_value js_cb, void* context, void* data);
  static void Finalize(napi_env env, void* data, void* hint);

  napi_env env_;
  const int fd_;
  napi_threadsafe_function tsfn_ = nullptr;
  ThreadHandle thread_;
  bool joined_ = false;  // JS thread only
  std::mutex mutex_;
  std::atomic<uint32_t> queuedCount_{0};  // queued_.size(), read without the lock while spinning
  std::condition_variable wake_;
  std::condition_variable idle_;   // signalled when a job has run and none is queued
  bool running_ = false;           // guarded by mutex_: a job was taken and has not completed
  std::deque<CommitJob*> queued_;  // guarded by mutex_
  std::vector<CommitJob*> done_;   // guarded by mutex_
  bool notifyPending_ = false;     // guarded by mutex_
  bool stop_ = false;              // guarded by mutex_
  bool sleeping_ = false;          // guarded by mutex_
  // The first failure, repeated for every later job (thread only until joined).
  IoResult failure_;
  std::string failurePath_;
  // JS thread only.
  uint64_t outstanding_ = 0;  // submitted, not yet settled: the function is ref'd while > 0
};

}  // namespace durability
