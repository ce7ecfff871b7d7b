# Shared helpers of the shell tests (sourced). Each test counts its checks and ends with
#   echo "NAME: $passed passed, $failed failed"; [ "$failed" -eq 0 ]
# shellcheck shell=bash
passed=0
failed=0
# A test may define on_first_failure (e.g. to print its servers' logs while they still exist):
# check calls it once, right after the first check that fails.
check() {  # check NAME COMMAND...: passes when COMMAND exits 0; returns its verdict (check ... || stop)
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); return 0; fi
  failed=$((failed + 1)); echo "FAILED: $name" >&2
  if [ "$failed" -eq 1 ] && declare -F on_first_failure >/dev/null; then on_first_failure; fi
  return 1
}
contains() { grep -qF -- "$2" <<<"$1"; }
not() { ! "$@" >/dev/null 2>&1; }
wait_50ms() { read -r -t 0.05 <> <(:) || true; }  # a bounded wait without a sleep process
until_ok() {  # until_ok SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds or time runs out
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ "$SECONDS" -ge "$deadline" ] && return 1; wait_50ms; done
}
