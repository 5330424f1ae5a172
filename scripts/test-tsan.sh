#!/usr/bin/env bash
# npm run test:tsan: the native addon built with ThreadSanitizer (DURABILITY_SANITIZE_THREAD in
# CMakeLists.txt), loaded into the stock, uninstrumented node with the TSan runtime preloaded, then
# the native-facing mocha files (the set test:asan runs) against it. Fails on any test failure and
# on any TSan report, including reports from child processes and worker threads: the runtime
# writes them to files under build-tsan/logs, which are checked at the end.
#
# Only the addon is instrumented. TSan still sees node's and libuv's locks (pthread_mutex and
# pthread_cond are intercepted, whoever calls them), so the hand-offs between the JS thread, the
# commit threads and the thread pool, all made under such locks, are visible to it. What it cannot
# see are atomics inside node, V8 and libuv, which is where its false positives come from:
# scripts/tsan/suppressions.txt silences those, by node/V8/libuv symbols only. Nothing in native/
# is ever suppressed. Before the tests, a canary (scripts/tsan/canary.c, a known race in an
# instrumented library loaded into node) must be reported, so a run that watches nothing fails.
#
# Everything lands in build-tsan/: the addon (build-tsan/Release), and the TypeScript compiled into
# build-tsan/pkg/dist, a package root of its own, as test:asan does with build-asan/.
#
# Knobs: DURABILITY_TSAN_TESTS (space-separated substrings of test file names, instead of the
# default set).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build-tsan
PKG=$OUT/pkg
LOGS=$OUT/logs
ADDON=$OUT/Release/durability.node
SUPPRESSIONS=$ROOT/scripts/tsan/suppressions.txt
EARLY_INIT=$OUT/tsan-early-init.so
CANARY=$OUT/tsan-canary.so
# Which files: scripts/native-test-files.sh.
. "$ROOT/scripts/native-test-files.sh"
# group-commit-loop is left out here too: its bound on commits settled per loop turn assumes JS
# runs at its own speed against the disk's; under TSan JS runs several times slower, so the commit
# thread finishes more commits while one turn settles them (seen once in four runs, at a
# rotation). It runs unsanitized in npm test and under ASan.

started=$SECONDS
step() { echo; echo "== [$((SECONDS - started)) s] $*"; }
die() { echo "test:tsan: FAILED: $*" >&2; exit 1; }

step "building the TSan addon (with the test hooks) into build-tsan/"
cmake_log=$(mktemp)
trap 'rm -f "$cmake_log"' EXIT
npx cmake-js compile --out "$OUT" --CDDURABILITY_SANITIZE_THREAD=ON --CDDURABILITY_TEST_HOOKS=ON >"$cmake_log" 2>&1 || { grep -E -B2 -A6 "error" "$cmake_log" | head -60; die "cmake-js build"; }
[ -f "$ADDON" ] || die "no $ADDON after the build"

step "compiling TypeScript into build-tsan/pkg/dist"
mkdir -p "$PKG/test"
ln -sfn "$ROOT/package.json" "$PKG/package.json"
ln -sfn "$ROOT/binding.d.ts" "$PKG/binding.d.ts"
ln -sfn "$ROOT/node_modules" "$PKG/node_modules"
ln -sfn "$ROOT/test/vectors" "$PKG/test/vectors"
rm -rf "$PKG/dist"
npx tsc -p "$ROOT/tsconfig.json" --outDir "$PKG/dist" || echo "test:tsan: tsc reported errors (see above); testing what it emitted"

# The runtime the addon links (ldd names the exact file), preloaded so its interceptors come first.
TSAN_RT=$(ldd "$ADDON" | awk '/libtsan\.so/ { print $3 }')
[ -n "$TSAN_RT" ] && [ -f "$TSAN_RT" ] || die "$ADDON does not link libtsan (was it built with DURABILITY_SANITIZE_THREAD=ON?)"
step "building the preload helper and the canary (scripts/tsan/*.c)"
TSAN_LIBDIR=$(dirname "$(gcc -print-file-name=libtsan.so)")
gcc -shared -fPIC -O1 -o "$EARLY_INIT" "$ROOT/scripts/tsan/early-init.c" -L"$TSAN_LIBDIR" -ltsan || die "building $EARLY_INIT"
gcc -shared -fPIC -O1 -g -fsanitize=thread -o "$CANARY" "$ROOT/scripts/tsan/canary.c" || die "building $CANARY"
rm -rf "$LOGS"
mkdir -p "$LOGS"
# Only node (and what it spawns) runs with the runtime preloaded, and early-init.c with it (see
# there why). report_thread_leaks=0: node's own threads (the platform workers) are never joined
# by design.
sanitized() {
  env LD_PRELOAD="$TSAN_RT $EARLY_INIT" \
    TSAN_OPTIONS="halt_on_error=0:report_thread_leaks=0:second_deadlock_stack=1:history_size=4:suppressions=$SUPPRESSIONS:log_path=$LOGS/tsan" \
    "$@"
}
export DURABILITY_NATIVE_PATH=$ADDON
export DURABILITY_BACKEND=native
export DURABILITY_REQUIRE_NATIVE=1

check_reports() {
  local out=$1
  if grep -En "WARNING: ThreadSanitizer|ERROR: ThreadSanitizer|ThreadSanitizer:DEADLYSIGNAL" "$out" >/dev/null; then
    grep -En -A40 "WARNING: ThreadSanitizer|ERROR: ThreadSanitizer|ThreadSanitizer:DEADLYSIGNAL" "$out" | head -120 >&2
    die "TSan report in the output of $(basename "$out" .out)"
  fi
  if compgen -G "$LOGS/tsan*" >/dev/null; then
    for f in "$LOGS"/tsan*; do [ -f "$f" ] && { echo "--- $f" >&2; head -120 "$f" >&2; }; done
    # A race in the addon has an addon frame on at least one side (its accesses run in
    # instrumented code, or in an interceptor it called); one without is node's own.
    if grep -qsE "durability\.node|/native/[a-z_0-9]+\.(cc|h)" "$LOGS"/tsan*; then
      die "TSan report(s) naming the addon in build-tsan/logs: a race in native/ to fix"
    fi
    die "TSan report(s) in build-tsan/logs naming only node/V8/libuv code: if, read, they are node's own, suppress them by that symbol in scripts/tsan/suppressions.txt"
  fi
}

step "checking that TSan reports a race in instrumented code loaded into node (the canary)"
set +e
sanitized env TSAN_OPTIONS="suppressions=$SUPPRESSIONS:log_path=$LOGS/canary:exitcode=0" \
  node -e 'try { process.dlopen({ exports: {} }, process.argv[1]); } catch {}' "$CANARY" >"$LOGS/canary.out" 2>&1
set -e
grep -qs "WARNING: ThreadSanitizer: data race" "$LOGS"/canary.* && grep -qs "canary.c" "$LOGS"/canary.* ||
  { cat "$LOGS/canary.out" "$LOGS"/canary.* 2>/dev/null >&2; die "TSan did not report the canary's race: it would not report one in the addon either"; }
echo "reported, as it should be: $(grep -h -m1 'canary.c' "$LOGS"/canary.* | sed 's/^ *//')"
rm -f "$LOGS"/canary.*

step "checking that the TSan addon is the one loaded"
sanitized node -e '
  const { loadNative } = require(process.argv[1]);
  const load = loadNative();
  if (load.path !== process.env.DURABILITY_NATIVE_PATH) throw new Error(`loaded ${load.path}; attempts: ${load.attempts.join("; ")}`);
  if (load.binding.buildInfo.sanitized !== true) throw new Error(`${load.path}: buildInfo.sanitized is not true`);
  if (load.binding.buildInfo.testHooks !== true) throw new Error(`${load.path}: buildInfo.testHooks is not true`);
  console.log(`loaded ${load.path}: ${JSON.stringify(load.binding.buildInfo)}`);
' "$PKG/dist/lib/native.js" 2>&1 | tee "$LOGS/load.out"
[ "${PIPESTATUS[0]}" -eq 0 ] || die "the TSan addon did not load"
check_reports "$LOGS/load.out"

native_test_files "$ROOT" "$PKG" "${DURABILITY_TSAN_TESTS:-}" 'group-commit-loop'
[ "${#files[@]}" -gt 0 ] || die "no test files selected"

step "mocha under TSan: ${#files[@]} files"
printf '   %s\n' "${files[@]##*/}"
set +e
sanitized node "$ROOT/node_modules/mocha/bin/mocha.js" --reporter dot --timeout 300000 "${files[@]}" 2>&1 | tee "$LOGS/mocha.out"
status=${PIPESTATUS[0]}
set -e
check_reports "$LOGS/mocha.out"
[ "$status" -eq 0 ] || die "mocha exited with $status"

step "test:tsan passed: no TSan reports (total $((SECONDS - started)) s)"
