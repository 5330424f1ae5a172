// See threads.h.
#include "threads.h"

#include <cerrno>

#if defined(_WIN32)
#include <windows.h>
#else
#include <pthread.h>
#endif

namespace durability {
namespace {

struct ThreadStart {
  void (*fn)(void*);
  void* arg;
};

void RunStart(void* p) {
  ThreadStart start = *static_cast<ThreadStart*>(p);
  delete static_cast<ThreadStart*>(p);
  start.fn(start.arg);
}

#if defined(_WIN32)
DWORD WINAPI ThreadMain(LPVOID p) {
  RunStart(p);
  return 0;
}
#else
void* ThreadMain(void* p) {
  RunStart(p);
  return nullptr;
}
#endif

}  // namespace

int StartThread(void (*fn)(void*), void* arg, ThreadHandle* out) {
  ThreadStart* start = new ThreadStart{fn, arg};
#if defined(_WIN32)
  HANDLE thread = CreateThread(nullptr, 0, &ThreadMain, start, 0, nullptr);
  if (thread == nullptr) {
    delete start;
    return EAGAIN;
  }
  out->impl = thread;
#else
  pthread_t* thread = new pthread_t;
  const int err = pthread_create(thread, nullptr, &ThreadMain, start);
  if (err != 0) {
    delete start;
    delete thread;
    return err;
  }
  out->impl = thread;
#endif
  return 0;
}

void JoinThread(ThreadHandle* thread) {
  if (thread->impl == nullptr) return;
#if defined(_WIN32)
  WaitForSingleObject(static_cast<HANDLE>(thread->impl), INFINITE);
  CloseHandle(static_cast<HANDLE>(thread->impl));
#else
  pthread_t* t = static_cast<pthread_t*>(thread->impl);
  pthread_join(*t, nullptr);
  delete t;
#endif
  thread->impl = nullptr;
}

}  // namespace durability
