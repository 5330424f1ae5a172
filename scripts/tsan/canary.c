// A known data race, built with -fsanitize=thread by scripts/test-tsan.sh and loaded into node
// (process.dlopen runs its constructor, then fails: it is no addon) with the same preload and
// suppressions as the tests. The run goes on only if TSan reports it, naming this file: proof
// that instrumented code loaded into the stock node is watched, and that the suppressions do not
// hide a race in it. Without it, a runtime that silently stopped watching would pass everything.
#include <pthread.h>

static int unguarded;

static void* write_unguarded(void* arg) {
  (void)arg;
  unguarded++;
  return 0;
}

__attribute__((constructor)) static void race(void) {
  pthread_t a, b;
  pthread_create(&a, 0, write_unguarded, 0);
  pthread_create(&b, 0, write_unguarded, 0);
  pthread_join(a, 0);
  pthread_join(b, 0);
}
