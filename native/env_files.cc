#include "env_files.h"

#include "commit_thread.h"
#include "platform.h"

namespace durability {

EnvFiles::EnvFiles(napi_env env) : env_(env) {
  hooked_ = napi_add_env_cleanup_hook(env, &EnvFiles::Cleanup, this) == napi_ok;
}

EnvFiles::~EnvFiles() {
  // Node runs cleanup hooks before it finalizes instance data, so normally the hook has run.
  if (hooked_) {
    napi_remove_env_cleanup_hook(env_, &EnvFiles::Cleanup, this);
    ReleaseAll();
  }
}

void EnvFiles::Opened(int fd) {
  // A number handed out while still recorded was closed behind the binding's back (node:fs
  // closeSync): its previous file's commit thread, with any failure it keeps, and lock are not
  // the new file's.
  if (!open_.insert(fd).second) {
    StopCommits(fd);
    locked_.erase(fd);
  }
}

void EnvFiles::Closed(int fd) {
  open_.erase(fd);
  locked_.erase(fd);
}

void EnvFiles::Locked(int fd) {
  if (open_.count(fd) != 0) locked_.insert(fd);
}

void EnvFiles::Unlocked(int fd) { locked_.erase(fd); }

CommitThread* EnvFiles::CommitsFor(int fd) {
  auto found = commits_.find(fd);
  if (found != commits_.end()) return found->second;
  CommitThread* thread = CommitThread::Start(env_, fd);
  if (thread != nullptr) commits_[fd] = thread;
  return thread;
}

CommitThread* EnvFiles::CommitsIfAny(int fd) {
  auto found = commits_.find(fd);
  return found == commits_.end() ? nullptr : found->second;
}

void EnvFiles::StopCommits(int fd) {
  auto found = commits_.find(fd);
  if (found == commits_.end()) return;
  CommitThread* thread = found->second;
  commits_.erase(found);
  thread->Shutdown();
}

void EnvFiles::ForgetCommits(CommitThread* thread) {
  auto found = commits_.find(thread->fd());
  if (found != commits_.end() && found->second == thread) commits_.erase(found);
}

void EnvFiles::Cleanup(void* self) {
  EnvFiles* files = static_cast<EnvFiles*>(self);
  files->hooked_ = false;
  files->ReleaseAll();
}

void EnvFiles::ReleaseAll() {
  stopping_ = true;
  // Threads first: none may still write to a descriptor closed below (or reused since).
  for (auto& entry : commits_) entry.second->Abandon();
  commits_.clear();
  // Unlock before close: on POSIX closing the last descriptor of the open file drops the flock
  // anyway, but Windows releases a closed handle's locks only eventually.
  for (int fd : locked_) Unlock(fd);
  for (int fd : open_) CloseFd(fd);
  locked_.clear();
  open_.clear();
}

}  // namespace durability
