#!/usr/bin/env bash
# npm run test:asan: the native addon built with AddressSanitizer + UBSan (DURABILITY_SANITIZE in
# CMakeLists.txt), then the native-facing mocha files and a fuzz run (100k inputs by default)
# against it. Fails on any test failure and on any sanitizer report, including reports from child
# processes and worker threads: the runtimes write them to files under build-asan/logs, which are
# checked at the end, besides grepping every step's output.
#
# Everything lands in build-asan/: the addon (build-asan/Release), and the TypeScript compiled into
# build-asan/pkg/dist, a package root of its own (symlinks to package.json, binding.d.ts,
# node_modules, test/vectors), so the run neither depends on nor disturbs dist/.
#
# Knobs: DURABILITY_ASAN_FUZZ_INPUTS (default 100000), DURABILITY_ASAN_FUZZ_SEED (default 1),
# DURABILITY_ASAN_TESTS (space-separated substrings of test file names, instead of the default set).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build-asan
PKG=$OUT/pkg
LOGS=$OUT/logs
ADDON=$OUT/Release/durability.node
FUZZ_INPUTS=${DURABILITY_ASAN_FUZZ_INPUTS:-100000}
FUZZ_SEED=${DURABILITY_ASAN_FUZZ_SEED:-1}
# Which files: scripts/native-test-files.sh.
. "$ROOT/scripts/native-test-files.sh"

started=$SECONDS
step() { echo; echo "== [$((SECONDS - started)) s] $*"; }
die() { echo "test:asan: FAILED: $*" >&2; exit 1; }

step "building the sanitized addon (with the test hooks) into build-asan/"
# The log lives outside build-asan/: when a build fails, cmake-js retries from scratch and
# deletes the whole output directory.
cmake_log=$(mktemp)
trap 'rm -f "$cmake_log"' EXIT
npx cmake-js compile --out "$OUT" --CDDURABILITY_SANITIZE=ON --CDDURABILITY_TEST_HOOKS=ON >"$cmake_log" 2>&1 || { grep -E -B2 -A6 "error" "$cmake_log" | head -60; die "cmake-js build"; }
[ -f "$ADDON" ] || die "no $ADDON after the build"

step "compiling TypeScript into build-asan/pkg/dist"
mkdir -p "$PKG/test"
ln -sfn "$ROOT/package.json" "$PKG/package.json"
ln -sfn "$ROOT/binding.d.ts" "$PKG/binding.d.ts"
ln -sfn "$ROOT/node_modules" "$PKG/node_modules"
ln -sfn "$ROOT/test/vectors" "$PKG/test/vectors"
rm -rf "$PKG/dist"
# tsc emits even when it reports type errors; type checking is npm run build's job, this run's is
# the sanitizers, so it goes on with what was emitted (a missing module still fails the tests).
npx tsc -p "$ROOT/tsconfig.json" --outDir "$PKG/dist" || echo "test:asan: tsc reported errors (see above); testing what it emitted"

# The runtimes the addon links (ldd names the exact files), preloaded so they come first in node.
ASAN_RT=$(ldd "$ADDON" | awk '/libasan\.so/ { print $3 }')
UBSAN_RT=$(ldd "$ADDON" | awk '/libubsan\.so/ { print $3 }')
[ -n "$ASAN_RT" ] && [ -f "$ASAN_RT" ] || die "$ADDON does not link libasan (was it built with DURABILITY_SANITIZE=ON?)"
rm -rf "$LOGS"
mkdir -p "$LOGS"
# Only node (and what it spawns: child processes inherit the environment) runs with the runtimes
# preloaded; the shell's own tools (tee, grep) do not. Node's own allocations live until exit by
# design, so leak checking would only report those.
sanitized() {
  env LD_PRELOAD="$ASAN_RT${UBSAN_RT:+ $UBSAN_RT}" \
    ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:log_path=$LOGS/asan" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$LOGS/ubsan" \
    "$@"
}
export DURABILITY_NATIVE_PATH=$ADDON
export DURABILITY_BACKEND=native
export DURABILITY_REQUIRE_NATIVE=1

check_reports() {
  local out=$1
  if grep -En "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|AddressSanitizer:DEADLYSIGNAL" "$out" >/dev/null; then
    grep -En -A30 "ERROR: AddressSanitizer|runtime error:|AddressSanitizer:DEADLYSIGNAL" "$out" | head -80 >&2
    die "sanitizer report in the output of $(basename "$out" .out)"
  fi
  if compgen -G "$LOGS/asan*" >/dev/null || compgen -G "$LOGS/ubsan*" >/dev/null; then
    for f in "$LOGS"/asan* "$LOGS"/ubsan*; do [ -f "$f" ] && { echo "--- $f" >&2; head -80 "$f" >&2; }; done
    die "sanitizer report file(s) in build-asan/logs"
  fi
}

step "checking that the sanitized addon is the one loaded"
sanitized node -e '
  const { loadNative } = require(process.argv[1]);
  const load = loadNative();
  if (load.path !== process.env.DURABILITY_NATIVE_PATH) throw new Error(`loaded ${load.path}; attempts: ${load.attempts.join("; ")}`);
  if (load.binding.buildInfo.sanitized !== true) throw new Error(`${load.path}: buildInfo.sanitized is not true`);
  if (load.binding.buildInfo.testHooks !== true) throw new Error(`${load.path}: buildInfo.testHooks is not true`);
  console.log(`loaded ${load.path}: ${JSON.stringify(load.binding.buildInfo)}, kernels ${load.binding.crc32cKernels().join(", ")}`);
' "$PKG/dist/lib/native.js" 2>&1 | tee "$LOGS/load.out"
[ "${PIPESTATUS[0]}" -eq 0 ] || die "the sanitized addon did not load"
check_reports "$LOGS/load.out"

native_test_files "$ROOT" "$PKG" "${DURABILITY_ASAN_TESTS:-}"
[ "${#files[@]}" -gt 0 ] || die "no test files selected"

step "mocha under ASan + UBSan: ${#files[@]} files"
printf '   %s\n' "${files[@]##*/}"
set +e
sanitized node "$ROOT/node_modules/mocha/bin/mocha.js" --reporter dot --timeout 300000 "${files[@]}" 2>&1 | tee "$LOGS/mocha.out"
status=${PIPESTATUS[0]}
set -e
check_reports "$LOGS/mocha.out"
[ "$status" -eq 0 ] || die "mocha exited with $status"

step "fuzz under ASan + UBSan: $FUZZ_INPUTS inputs, seed $FUZZ_SEED"
set +e
DURABILITY_FUZZ_DIST="$PKG/dist" sanitized node "$ROOT/scripts/fuzz.mjs" --inputs "$FUZZ_INPUTS" --seed "$FUZZ_SEED" --expect-sanitized 2>&1 | tee "$LOGS/fuzz.out"
status=${PIPESTATUS[0]}
set -e
check_reports "$LOGS/fuzz.out"
[ "$status" -eq 0 ] || die "fuzz exited with $status"

step "test:asan passed: no sanitizer reports (total $((SECONDS - started)) s)"
