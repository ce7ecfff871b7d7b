# The sanitizer stages of scripts/test; sourced, run from the repository root after the normal
# build (build/), whose test list says which binaries to build here.
# shellcheck shell=bash

# -O1: sanitizer builds compile much faster than at -O2 and still run the tests quickly; no NDEBUG,
# so assertions are on too. No benchmarks; warnings are the normal build's job (ZTM_WERROR there).
SAN_CMAKE_ARGS=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1
  -DZTM_BUILD_BENCH=OFF)

# A finding stops the process with a non-zero status, which fails the test. The options apply
# to gtest_discover_tests too (it runs every test binary at build time). No suppressions: the
# tests run clean, leaks included (libvips and glib too). Should a third-party false positive
# appear, add scripts/lib/{lsan,tsan}.supp with a comment per entry saying why it is not ours.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"

# ASan+UBSan: the unit-labelled tests (the in-process integration tests server_test, photos_test
# and node_test among them) but those of ASAN_SKIP's binaries, which would add the most compile
# time for code already run instrumented elsewhere: ztm (the cli tests: it alone needs the lab
# and cli libraries, a sixth of the build), lab_unit_test (the lab library), memory_store_test
# (the tests' fake store) and the fuzz regressions' replays (the fuzz stage runs them under
# ASan+UBSan). The engine-labelled ones would add their binaries and their engines' start-ups,
# past the time budget of scripts/test. ZTM_ASAN_LABELS='^(unit|engine)$' and ZTM_ASAN_SKIP='^$'
# run everything.
ASAN_LABELS=${ZTM_ASAN_LABELS:-'^unit$'}
ASAN_SKIP=${ZTM_ASAN_SKIP:-'^(ztm|lab_unit_test|memory_store_test|.*_replay)$'}
# TSan: the binaries with the concurrency tests: the L1 cache (concurrency, single flight),
# core (TaskGroup), app (the password hasher's and the photo service's BlockingPool, the
# read-through herd tests), storage and the embedded queue (SQLite on its BlockingPool).
TSAN_TARGETS=(core_test cache_test app_test storage_test queue_embedded_test)

# targets_of BUILD_DIR CTEST_ARGS...: the targets the selected tests run (every argument of a
# test's command that is a file in BUILD_DIR: the gtest binary, or ztm for the cli test).
targets_of() {
  local dir
  dir=$(cd "$1" && pwd)
  shift
  ctest --test-dir "$dir" --show-only=json-v1 "$@" |
    jq -r --arg d "$dir/" '[.tests[].command[]? | select(startswith($d)) | split("/") | last]
      | unique | .[]'
}

# The binaries of ASAN_LABELS' tests the asan build has (no benchmarks there: not belady_test),
# but ASAN_SKIP's. The gtest binaries not built leave unlabelled NAME_NOT_BUILT placeholders,
# which -L skips; the tests that run a skipped binary directly are left out by name.
asan_build() {
  local targets known
  cmake -S . -B build-asan "${SAN_CMAKE_ARGS[@]}" -DZTM_SANITIZE=address,undefined >/dev/null
  known=$(ninja -C build-asan -t targets all | sed -n 's/^\([A-Za-z0-9_]*\): .*/\1/p')
  mapfile -t targets < <(targets_of build -L "$ASAN_LABELS" | grep -Fxf <(echo "$known") |
    grep -Ev "$ASAN_SKIP")
  cmake --build build-asan --target "${targets[@]}"
}
# unbuilt_tests BUILD_DIR SKIP CTEST_ARGS...: an -E pattern for the selected tests that would run
# a binary this build left out: their command is null (ctest found no executable: a fuzz replay)
# or names a file under BUILD_DIR that is missing or whose name matches SKIP (the cli tests run
# ztm as an argument). Names are escaped: gtest's typed tests hold parentheses.
unbuilt_tests() {
  local dir skip=$2 name paths path names=() IFS
  dir=$(cd "$1" && pwd)
  shift 2
  while IFS=$'\t' read -r name paths; do
    for path in $paths; do  # split on the spaces jq joined them with (no spaces in our paths)
      if [ "$path" = null ] || [ ! -e "$path" ] || [[ ${path##*/} =~ $skip ]]; then
        # shellcheck disable=SC2001,SC2016  # a sed bracket expression, nothing to expand
        names+=("$(sed 's/[][\.*^$()+?|]/\\&/g' <<<"$name")")
        break
      fi
    done
  done < <(ctest --test-dir "$dir" --show-only=json-v1 "$@" | jq -r --arg d "$dir/" '.tests[]
    | [.name, if .command == null then "null"
              else [.command[] | select(startswith($d))] | join(" ") end] | @tsv')
  [ ${#names[@]} -gt 0 ] || { echo '^$'; return; }
  IFS='|'
  echo "^(${names[*]})\$"
}

asan_tests() {
  ctest --test-dir build-asan --output-on-failure -j2 --timeout 600 -L "$ASAN_LABELS" \
    -E "$(unbuilt_tests build-asan "$ASAN_SKIP" -L "$ASAN_LABELS")"
}

tsan_build() {
  cmake -S . -B build-tsan "${SAN_CMAKE_ARGS[@]}" -DZTM_SANITIZE=thread >/dev/null
  cmake --build build-tsan --target "${TSAN_TARGETS[@]}"
}
# Only TSAN_TARGETS are built here: the unit tests of the binaries not built are ctest's
# unlabelled NAME_NOT_BUILT placeholders, which -L skips; the tests that run a binary not built
# (cli and cli_logs: ztm; the fuzz replays: their harnesses) are left out as in asan_tests.
tsan_tests() {
  ctest --test-dir build-tsan --output-on-failure -j2 --timeout 600 -L unit \
    -E "$(unbuilt_tests build-tsan '^$' -L unit)"
}
