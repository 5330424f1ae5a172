# Sourced by scripts/test-asan.sh and scripts/test-tsan.sh: which mocha files run against a
# sanitized addon.
#
# Native-facing tests: every test file that reaches the addon (a backend, FsDirectory, the
# fixtures' dirKinds, the loader), found by what it uses, so new ones join by themselves. Left
# out: the loader and package tests (they need dist/, a packed tarball or no DURABILITY_NATIVE_PATH),
# the fuzz test (test:asan's fuzz step runs it five times larger) and the JetStream tests (a network
# client and servers around the same WAL calls the other files make; the example service one of
# them starts lives in the repository, not in the sanitized package copy).
NATIVE_API='availableBackends|nativeBackend|tsBackend|backendByName|defaultBackend|FsDirectory|loadNative|dirKinds'
NATIVE_EXCLUDED='loader|package-.*|fuzz|jetstream.*'

# native_test_files ROOT PKG CHOSEN [MORE_EXCLUDED]: fills the array `files` with the compiled
# paths (PKG/dist/test/*.js) of the files chosen: those whose names contain one of the
# space-separated substrings CHOSEN, or when CHOSEN is empty every native-facing file but those
# matching MORE_EXCLUDED (an extended regex alternative, e.g. 'group-commit-loop').
native_test_files() {
  local root=$1 pkg=$2 chosen=$3 more=${4:-}
  local excluded="^(${NATIVE_EXCLUDED}${more:+|$more})\\.test\\.ts$"
  local src name match t
  files=()
  for src in "$root"/test/*.test.ts; do
    name=$(basename "$src")
    if [ -n "$chosen" ]; then
      match=
      for t in $chosen; do case "$name" in *"$t"*) match=1 ;; esac; done
      [ -n "$match" ] || continue
    else
      [[ "$name" =~ $excluded ]] && continue
      grep -qE "$NATIVE_API" "$src" || continue
    fi
    files+=("$pkg/dist/test/${name%.ts}.js")
  done
}
