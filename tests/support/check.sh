# Shared helpers of the shell tests (sourced). Each test counts its checks and ends with
#   echo "NAME: $passed passed, $failed failed"; [ "$failed" -eq 0 ]
# shellcheck shell=bash
passed=0
failed=0
check() {  # check NAME COMMAND...: passes when COMMAND exits 0; returns its verdict (check ... || stop)
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name" >&2; return 1; fi
}
contains() { grep -qF -- "$2" <<<"$1"; }
not() { ! "$@" >/dev/null 2>&1; }
wait_50ms() { read -r -t 0.05 <> <(:) || true; }  # a bounded wait without a sleep process
until_ok() {  # until_ok SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds or time runs out
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ "$SECONDS" -ge "$deadline" ] && return 1; wait_50ms; done
}
