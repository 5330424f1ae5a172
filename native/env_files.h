// Descriptors per environment (the main thread, each worker): every descriptor opened through
// the binding in an environment is recorded until closed through it, with whether it holds the
// lock. When the environment is torn down with some still open (a worker that is terminated, or
// ends, with a writer open) its cleanup hook unlocks and closes them, so the lock is free for
// the next writer at once instead of when the process exits. Descriptors that ran commitAsync
// have a commit thread (commit_thread.h), stopped before the descriptor closes. The hook also marks the
// environment as stopping. That mark comes late: Node runs the completions of work still on the
// thread pool before any cleanup hook, so EnvStopping, which completions check before touching
// JS, also asks Node-API whether the environment can still call into JS.
//
// Used only from the environment's own JS thread (open, close, lock and unlock are synchronous
// bindings), so nothing here is locked. Descriptors are process-wide numbers: one opened in a
// worker belongs to that worker's environment, and must be closed through the binding
// (binding.d.ts), or the hook could close a number since reused.
#pragma once

#include <napi.h>

#include <map>
#include <set>

namespace durability {

class CommitThread;

class EnvFiles {
 public:
  explicit EnvFiles(napi_env env);
  ~EnvFiles();
  EnvFiles(const EnvFiles&) = delete;
  EnvFiles& operator=(const EnvFiles&) = delete;

  void Opened(int fd);
  void Closed(int fd);
  /** Whether this environment opened the descriptor and has not closed it. */
  bool IsOpen(int fd) const { return open_.count(fd) != 0; }
  /** Records the lock on a descriptor this environment opened (others are not its to release). */
  void Locked(int fd);
  void Unlocked(int fd);
  bool stopping() const { return stopping_; }

  /**
   * The commit thread (commit_thread.h) of a descriptor that IsOpen, started on first use; nullptr
   * with a JS exception pending.
   */
  CommitThread* CommitsFor(int fd);
  /** The descriptor's commit thread if it has one (none is started). */
  CommitThread* CommitsIfAny(int fd);
  /** Before a descriptor closes: its commit thread finishes what is queued and stops. */
  void StopCommits(int fd);
  /** The thread is being deleted (its thread-safe function was finalized). */
  void ForgetCommits(CommitThread* thread);

 private:
  static void Cleanup(void* self);
  void ReleaseAll();

  napi_env env_;
  // std::set rather than unordered_set: the hash table's bucket array would raise the libstdc++
  // floor of the Linux prebuilds to GLIBCXX_3.4.29 (__throw_bad_array_new_length).
  std::set<int> open_;
  std::set<int> locked_;  // a subset of open_
  std::map<int, CommitThread*> commits_;  // not owned: each is deleted by its thread-safe function
  bool hooked_ = false;
  bool stopping_ = false;
};

/** The environment's EnvFiles (the addon instance data). */
EnvFiles& FilesOf(napi_env env);

/** FilesOf(env).ForgetCommits(thread), if the environment still has its instance data. */
void ForgetCommitThread(napi_env env, CommitThread* thread);

/**
 * True once the environment is being torn down (it can no longer call into JS, or its cleanup
 * hook ran), or when its instance data is gone: a thread-pool completion then drops its result
 * instead of creating JS values.
 */
bool EnvStopping(napi_env env);

}  // namespace durability
