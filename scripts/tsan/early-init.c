// Preloaded after the TSan runtime by scripts/test-tsan.sh: starts the runtime from a constructor.
// Preloaded alone, the runtime starts on the first call it intercepts; a program whose first such
// call is _setjmp (dash and bash, which the tests spawn as `sh -c ...` with the environment, and
// so the preload, of the test) jumps through the runtime's still-null pointer to the real
// _setjmp and dies of SIGSEGV before it runs a command. __tsan_init is the runtime's own entry
// point (an instrumented program calls it first thing) and does nothing once the runtime runs.
void __tsan_init(void);

__attribute__((constructor)) static void start_tsan_runtime(void) { __tsan_init(); }
