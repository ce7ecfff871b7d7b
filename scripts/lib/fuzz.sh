# The fuzzing stage of scripts/test: the libFuzzer harnesses of fuzz/ built with clang in
# build-fuzz (ZTM_FUZZ=ON: ASan+UBSan, libFuzzer's coverage), each run for FUZZ_SECONDS on a copy
# of its seeds and regressions (build-fuzz/runs/NAME/; nothing is written into fuzz/). Sourced;
# run from the repository root. docs/security.md "Fuzzing" has the numbers and how to go longer.
# shellcheck shell=bash

FUZZERS=(http_request json_body multipart headers config shard_map)
FUZZ_SECONDS=${ZTM_FUZZ_SECONDS:-30}
# Inputs longer than libFuzzer's default (the largest seed, at least 4 KiB): the request path's
# limits (a head of 8 KiB, a body of 64 KiB, a read buffer of 72 KiB) are reached only beyond it.
declare -A FUZZ_MAX_LEN=([http_request]=$((80 * 1024)))
# -O1 as in the sanitizer builds. Only the fuzzers' libraries are built (no tests, benchmarks).
# No ZTM_WERROR: clang's warnings are not GCC's, and the normal build is the one that gates them.
FUZZ_CMAKE_ARGS=(-G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -DZTM_FUZZ=ON -DZTM_BUILD_TESTS=OFF -DZTM_BUILD_BENCH=OFF)

# With a warm ccache a clean build-fuzz takes about a minute on 2 cores: ccache cannot reuse the
# translation units of ztm_http and ztm_api, which use a precompiled header.
fuzz_build() {
  cmake -S . -B build-fuzz "${FUZZ_CMAKE_ARGS[@]}" >/dev/null
  cmake --build build-fuzz --target fuzzers
}

# fuzz_run [NAME...]: runs each harness (default: all), as many at a time as there are cores, and
# prints libFuzzer's last status line of each (runs, cov, ft, exec/s). A crash, sanitizer report,
# timeout (-timeout s per input) or memory beyond -rss_limit_mb fails the stage; the input that
# did it stays in build-fuzz/runs/NAME/crashes/.
fuzz_run() {
  local names=("$@")
  [ ${#names[@]} -gt 0 ] || names=("${FUZZERS[@]}")
  printf '%s\n' "${names[@]}" |
    xargs -P "$(nproc)" -I{} bash -c '. scripts/lib/fuzz.sh && fuzz_one "$1"' fuzz_one {} ||
    { echo "fuzz: failed (above: which, and what to do)" >&2; return 1; }
}

# fuzz_one NAME: one harness for FUZZ_SECONDS on a copy of its seeds and regressions.
fuzz_one() {
  local name=$1 run=build-fuzz/runs/$1 flags=()
  rm -rf "$run"
  mkdir -p "$run/corpus" "$run/crashes"
  cp -R "fuzz/corpus/$name/." "$run/corpus/"
  if [ -d "fuzz/regressions/$name" ]; then cp -R "fuzz/regressions/$name/." "$run/corpus/"; fi
  if [ -f "fuzz/$name.dict" ]; then flags+=("-dict=fuzz/$name.dict"); fi
  if [ -n "${FUZZ_MAX_LEN[$name]:-}" ]; then flags+=("-max_len=${FUZZ_MAX_LEN[$name]}"); fi
  if "build-fuzz/fuzz/${name}_fuzzer" "${flags[@]}" -max_total_time="$FUZZ_SECONDS" \
    -rss_limit_mb=2048 -timeout=5 -print_final_stats=1 -artifact_prefix="$run/crashes/" \
    "$run/corpus" >"$run/log" 2>&1; then
    echo "$name: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$run/log" | tail -1)"
  else
    { tail -n 60 "$run/log"; fuzz_failure_help "$name" "$run"; } >&2
    return 1
  fi
}

fuzz_failure_help() {
  local name=$1 run=$2
  cat <<MSG
== fuzz: $name failed (log: $run/log); the input is in $run/crashes/:
$(ls -1 "$run/crashes/")
To keep it as a regression test:
  1. minimise it: build-fuzz/fuzz/${name}_fuzzer -minimize_crash=1 -runs=100000 \\
       -exact_artifact_path=fuzz/regressions/$name/WHAT-IT-IS $run/crashes/FILE
     (a timeout or an out-of-memory input: copy it as it is)
  2. replay it: build-fuzz/fuzz/${name}_fuzzer fuzz/regressions/$name/WHAT-IT-IS
  3. fix the bug and commit the file: every fuzz run and the ctest fuzz_$name (label unit, in the
     normal build) replay fuzz/regressions/$name/.
MSG
}
