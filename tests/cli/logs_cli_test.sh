#!/usr/bin/env bash
# `ztm logs` and `ztm trace` as a user runs them, over a small log host directory: the output,
# --json, and the exit status (0 found, 1 nothing, 2 a bad argument). The search itself is
# tested in src/lab/logs_test.cc. Usage: logs_cli_test.sh PATH_TO_ZTM
set -uo pipefail
ztm=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/../support/check.sh"

logs=$work/hosts/obs/logs/files
mkdir -p "$logs/web1" "$logs/lb1"
trace=4bf92f3577b34da6a3ce929d0e0e4736
cat >"$logs/web1/2026-12-05.jsonl" <<JSON
{"ts":"2026-12-05T10:00:00.120Z","level":"error","host":"web1","service":"ztm-web","msg":"thumbnail missing","request_id":"req-1","trace_id":"$trace","span_id":"00f067aa0ba902b7"}
not json
{"ts":"2026-12-05T10:00:00.140Z","level":"info","host":"web1","service":"ztm-web","msg":"span","name":"POST /photos/{id}/edits","trace_id":"$trace","span_id":"00f067aa0ba902b7","request_id":"req-1","start":"2026-12-05T10:00:00.100Z","duration_us":40000}
JSON
cat >"$logs/lb1/2026-12-05.jsonl" <<'JSON'
{"ts":"2026-12-05T10:00:00.145123+00:00","host":"lb1","service":"haproxy","msg":"[WARNING]  (1) : Server web/web2 is DOWN {req-1}"}
JSON

out=$("$ztm" logs --dir "$work" --level warning); status=$?
check "logs: found exits 0" test "$status" -eq 0
check "logs: the human line" contains "$out" \
  "2026-12-05T10:00:00.120Z web1 ztm-web ERROR thumbnail missing request_id=req-1"
check "logs: an engine's level from its text" contains "$out" "lb1 haproxy WARNING [WARNING]"
check "logs: merged in time order" test "$(wc -l <<<"$out")" -eq 2
out=$("$ztm" logs --dir "$work" --request req-1 --json --host lb1)
check "logs --json: the stored line" test "$out" = "$(cat "$logs/lb1/2026-12-05.jsonl")"
err=$("$ztm" logs --dir "$work" -v 2>&1 >/dev/null)
check "logs -v: counts what it skipped" contains "$err" "skipped 1 not log records"
"$ztm" logs --dir "$work" --grep nowhere >/dev/null; status=$?
check "logs: nothing found exits 1" test "$status" -eq 1
for bad in "--since 5x" "--level loud" "--limit many" "stray"; do
  # shellcheck disable=SC2086  # the words of $bad are separate arguments
  err=$("$ztm" logs --dir "$work" $bad 2>&1); status=$?
  check "logs $bad: exits 2" test "$status" -eq 2
  check "logs $bad: says why" contains "$err" "ztm logs: "
done

out=$("$ztm" trace req-1 --dir "$work"); status=$?
check "trace: found exits 0" test "$status" -eq 0
check "trace: the span's row" contains "$out" \
  "     0.000     40.000  [========================================]  ztm-web@web1  POST /photos/{id}/edits"
check "trace: HAProxy's line outside the spans" contains "$out" "outside every span:"
"$ztm" trace 0af7651916cd43dd8448eb211c80319c --dir "$work" 2>/dev/null; status=$?
check "trace: no span exits 1" test "$status" -eq 1
"$ztm" trace --dir "$work" 2>/dev/null; status=$?
check "trace: no id exits 2" test "$status" -eq 2

echo "logs_cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
