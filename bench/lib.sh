# What the benchmark scripts share (sourced from the repository root): the packages, a Release
# build of ztm, a work directory, and the processes to end on exit.
# shellcheck shell=bash
. scripts/lib/packages.sh

# build_release TARGET...: a Release build (no tests) in build-release.
build_release() {
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DZTM_BUILD_TESTS=OFF \
    -DZTM_BUILD_BENCH=OFF >/dev/null
  cmake --build build-release --target "$@" >/dev/null
}

# $work: a fresh directory; pids+=(PID) registers a process to end (by pid) on exit.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# wait_for CMD...: polls CMD (every 50 ms, 10 s at most) until it succeeds; exits 1 otherwise.
wait_for() { for _ in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not up: $*" >&2; exit 1; }

# login URL EMAIL PASSWORD: prints the session token.
login() {
  curl -sf "$1/sessions" -H 'Content-Type: application/json' -d "{\"email\":\"$2\",\"password\":\"$3\"}" |
    sed -E 's/.*"token":"([^"]+)".*/\1/'
}
