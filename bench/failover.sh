#!/usr/bin/env bash
# A primary failover as clients see it (issue 17), before and after the hold. Brings up
# `ztm lab up --stage replication` (etcd, three Patroni members, web1 and web2) twice: once with
# storage.postgres_hold_ms = 0 (no primary -> 503 at once: the router before issue 17), once
# with the default (15 s). Each time, through web1: WRITERS clients create users one after
# another, each create sent once with its own Idempotency-Key and never retried by the client,
# plus the writer/reader pair of tests/lab/rw_pair.sh (one user replaced again and again, read
# anonymously); once every writer has 30 acknowledgements, kill -9 of the primary's host
# (`ztm lab chaos kill`). Prints per mode: creates and their codes, create latency p50/p99/max,
# the longest time without a successful create, reads, failed reads and the stalest read.
# Root only; about 2 minutes per mode.
# Usage: bench/failover.sh [writers=4] [creates per writer=1500]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
. tests/lab/rw_pair.sh
writers=${1:-4}
creates=${2:-1500}
ztm=${ZTM:-build/ztm}
chmod 755 "$work"  # etcd and Patroni run as their own users and must reach the lab directory
dir="$work/lab"
# KEEP=DIR keeps each run's raw files (creates-N: "end_ms name id code seconds"; rw/) in DIR.
trap '"$ztm" lab down --dir "$dir" >/dev/null 2>&1 || true; [ -z "${KEEP:-}" ] || cp -r "$work" "$KEEP"; cleanup' EXIT

run() {  # run MODE HOLD_MS
  local mode=$1 hold=$2 deploy="$work/deploy-$2" out="$work/run-$2" url token pair primary w pids_=()
  cp -r deploy "$deploy"
  sed -i "s/^postgres_url = .*/&\npostgres_hold_ms = $hold/" "$deploy/ztm/ztm-postgres.toml"
  mkdir -p "$out"
  ZTM_DEPLOY_DIR=$deploy "$ztm" lab up --stage replication --dir "$dir" >/dev/null
  url=$("$ztm" lab status --json --dir "$dir" | jq -r .url)
  token=$(login "$url" admin@example.com admin-demo-password)
  pair=$(curl -sf -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    -d "$(user_body Pair V0)" "$url/users" | jq -r .id)
  rw_start "$url" "$pair" "$token" "$out/rw"
  for ((w = 0; w < writers; w++)); do
    create_writer "$url" "$token" "$out/creates-$w" "W$w" keyed "$creates" &
    pids_+=($!)
    pids+=($!)  # bench/lib.sh ends them on an early exit
  done
  for ((w = 0; w < writers; w++)); do
    for _ in $(seq 600); do [ "$(cat "$out/creates-$w" 2>/dev/null | wc -l)" -ge 30 ] && break; sleep 0.05; done
    [ "$(cat "$out/creates-$w" 2>/dev/null | wc -l)" -ge 30 ] || { echo "writer $w: no 30 creates in 30 s" >&2; exit 1; }
  done
  primary=$("$ztm" lab status --json --dir "$dir" | jq -r '.hosts[] | select(.role == "primary") | .name')
  local killed_at; killed_at=$(now_ms)
  "$ztm" lab chaos kill "$primary" --dir "$dir" >/dev/null
  wait "${pids_[@]}"
  rw_stop "$out/rw"
  cat "$out"/creates-* | sort -n > "$out/all"
  local codes gap reads
  codes=$(awk '{ print $4 }' "$out/all" | sort | uniq -c | awk '{ print $1 "×" $2 }' | paste -sd' ' -)
  # The longest time without a successful create, from the kill on.
  gap=$(awk -v k="$killed_at" 'BEGIN { prev = k }
    $1 >= k { last = $1 }
    $4 == 201 && $1 >= k { if ($1 - prev > m) m = $1 - prev; prev = $1 }
    END { if (last - prev > m) m = last - prev; print m + 0 }' "$out/all")
  reads=$(rw_check "$out/rw" 1700 0 "$(now_ms)")
  printf '| %s | %s | %s | %s / %s / %s | %s | %s | %s | %s |\n' "$mode" "$(wc -l < "$out/all")" "$codes" \
    "$(quantile_ms "$out/all" 0.5)" "$(quantile_ms "$out/all" 0.99)" "$(quantile_ms "$out/all" 1)" "$gap" \
    "$(echo "$reads" | awk '{ print $2 }')" "$(echo "$reads" | awk '{ print $3 }')" "$(echo "$reads" | awk '{ print $4 }')"
  "$ztm" lab down --dir "$dir" >/dev/null
}

echo "| mode | creates | codes | create ms p50 / p99 / max | longest without a 201 (ms) | pair reads | failed reads | stalest read (ms) |"
echo "|---|---|---|---|---|---|---|---|"
run "hold off (before)" 0
run "hold 15 s (after)" 15000
