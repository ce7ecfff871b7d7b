#!/usr/bin/env bash
# Every ctest has exactly one of the labels unit, engine, lab (see ztm_test() in CMakeLists.txt).
# Usage: scripts/lib/check-labels.sh [BUILD_DIR]   (default build; the tests must be built, as
# gtest_discover_tests lists them after the build). Prints the count per label; exits 1 and names
# the tests when one has none or more than one of them.
set -euo pipefail
dir=${1:-build}
json=$(ctest --test-dir "$dir" --show-only=json-v1)
bad=$(jq -r '.tests[]
  | {name, n: ([.properties[]? | select(.name == "LABELS") | .value[]
                | select(. == "unit" or . == "engine" or . == "lab")] | length)}
  | select(.n != 1) | "\(.name) (\(.n) of unit/engine/lab)"' <<<"$json")
total=$(jq '.tests | length' <<<"$json")
counts=$(jq -r '[.tests[] | .properties[]? | select(.name == "LABELS") | .value[]
  | select(. == "unit" or . == "engine" or . == "lab")] | group_by(.) | map("\(.[0]) \(length)")
  | join(", ")' <<<"$json")
echo "ctest labels: $counts ($total tests)"
if [ "$total" -eq 0 ]; then
  echo "no tests in $dir (not built?)" >&2
  exit 1
fi
if [ -n "$bad" ]; then
  echo "tests without exactly one of the labels unit, engine, lab:" >&2
  echo "$bad" >&2
  exit 1
fi
