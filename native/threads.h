// A thread of our own (the commit threads, commit_thread.h), behind one small interface: pthreads
// on POSIX, CreateThread on Windows. Failure to start is an error code, never an exception
// (the addon builds without C++ exceptions, so std::thread could only abort).
#pragma once

namespace durability {

/** A thread started by StartThread; joined exactly once by JoinThread. */
struct ThreadHandle {
  void* impl = nullptr;
};

/** Runs fn(arg) on a new thread; returns 0 or the error (EAGAIN when the system has no thread to give). */
int StartThread(void (*fn)(void*), void* arg, ThreadHandle* out);
/** Waits for the thread to end and frees its handle. */
void JoinThread(ThreadHandle* thread);

}  // namespace durability
