#!/usr/bin/env bash
# Stage cache (figure 1-7): two `ztm serve` with an L2 cache on three Redis cache nodes
# (cache1..cache3, a consistent-hash ring) in front of the replicated PostgreSQL (etcd +
# Patroni, as in stage replication). Reads through one web server fill L2 for the other (L2
# hits in its /metrics); killing a cache node, then all of them, under a bounded load fails no
# request and every answer still matches the database. Usage: lab_cache_test.sh PATH_TO_ZTM.
# Needs root; exits 77 (skipped) when it cannot run here.
set -uo pipefail
ztm=$1
. "$(dirname "$0")/../support/check.sh"
. "$(dirname "$0")/lab_common.sh"
. "$(dirname "$0")/lab_load.sh"
lab_setup lab_cache ip jq curl redis-server redis-cli patroni etcd psql

web1=http://10.77.1.10:8080 web2=http://10.77.1.11:8080
metric() {  # metric BASE_URL SERIES: its value on the server's /metrics (0 when absent)
  curl -s -m 2 "$1/metrics" | awk -v s="$2" '$1 == s { v = $2 } END { print v + 0 }'
}
l2_hits() { metric "$1" 'ztm_cache_hits_total{layer="l2"}'; }
keys_on() { rcli -h "$1" DBSIZE 2>/dev/null || echo 0; }
# matches_db ID...: each user's name through web1 and web2 is the one in the database (a direct
# read on the primary)
matches_db() {
  local id want w
  for id in "$@"; do
    want=$(psql "$db" -tAc "select first_name || ' ' || last_name || ' ' || city from users where id = $id")
    for w in "$web1" "$web2"; do
      [ "$(curl -s -m 2 "$w/users/$id" | jq -r '"\(.firstName) \(.lastName) \(.address.city)"')" = "$want" ] ||
        { echo "user $id differs at $w" >&2; return 1; }
    done
  done
}
# Bounded load: one `ztm bench` per user, alternating web servers; each at most 1500 requests
# and 25 s, paced. Stopped with SIGTERM (they print their summaries), never left running.
loads=()
start_loads() {
  local i=0 id
  loads=()
  for id in "${users[@]}"; do
    [ $((i % 2)) -eq 0 ] && base=$web1 || base=$web2
    "$ztm" bench "$base/users/$id" -n 1500 -d 25 -c 1 --rate 60 --progress \
      >"$work/load.$i.json" 2>"$work/load.$i.progress" &
    loads+=($!)
    i=$((i + 1))
  done
}
answered() {  # requests answered so far by every load
  local f v n=0
  for f in "$work"/load.*.progress; do
    v=$(tail -n 1 "$f" 2>/dev/null | jq '.ok + .failed' 2>/dev/null)
    n=$((n + ${v:-0}))
  done
  echo "$n"
}
wait_answered() { local target=$(($(answered) + $1)); until_ok 30 eval '[ "$(answered)" -ge '"$target"' ]'; }
stop_loads() {  # sets ok_total, failed_total
  local pid f
  for pid in "${loads[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${loads[@]}"; do wait "$pid"; done
  loads=()
  ok_total=0 failed_total=0
  for f in "$work"/load.*.json; do
    ok_total=$((ok_total + $(jq '.ok' "$f" 2>/dev/null || echo 0)))
    failed_total=$((failed_total + $(jq '.failed' "$f" 2>/dev/null || echo 1)))
  done
  rm -f "$work"/load.*
}
cache_cleanup() {  # the loads we started (by pid), then the lab
  local pid
  for pid in "${loads[@]}"; do kill "$pid" 2>/dev/null; done
  lab_cleanup
}
trap cache_cleanup EXIT

started=$SECONDS
out=$("$ztm" lab up --stage cache --dir "$dir" 2>&1); status=$?
check "up cache exits 0" test "$status" -eq 0 ||
  { echo "$out" >&2; echo "lab_cache: $passed passed, $failed failed"; exit 1; }
db="postgresql://ztm:$(app_password)@10.77.1.20:5432,10.77.1.21:5432,10.77.1.22:5432/ztm?target_session_attrs=read-write"
echo "lab_cache: up in $((SECONDS - started)) s"
check "web servers name the three cache nodes" \
  contains "$(tr -d ' ' <"$dir/hosts/web1/ztm/ztm.toml")" 'l2_nodes="10.77.1.50:6379,10.77.1.51:6379,10.77.1.52:6379"'
check "cache nodes evict LRU within maxmemory" \
  contains "$(rcli -h 10.77.1.51 INFO memory | tr -d '\r')" "maxmemory_policy:allkeys-lru"
# Issue 13, finding 9: every client logs in; the service's user may not empty a whole node.
for node in cache1 cache2 cache3; do redis_locked_down "$node" redis 6379 redis.conf; done
check "the service's user may not FLUSHALL a cache node" \
  contains "$(rcli_service -h 10.77.1.50 FLUSHALL 2>&1)" "NOPERM"
check "web servers name the nodes' user and a password file, not a password" \
  contains "$(tr -d ' ' <"$dir/hosts/web1/ztm/ztm.toml")" "l2_password_file=\"$dir/hosts/web1/ztm/redis-password\""
check "the password file is the server's own, 0600" \
  test "$(stat -c '%a %U' "$dir/hosts/web1/ztm/redis-password")" = "600 ztm"

mapfile -t users < <(psql "$db" -tAc "select id from users order by id limit 24")
check "demo users to read" test "${#users[@]}" -ge 8
# The demo users were just seeded on the primary; reads go to replicas within the lag bound
# (storage.postgres_max_replica_lag_ms), so wait (bounded) until both servers serve them all.
all_served() { matches_db "${users[@]}" 2>/dev/null; }
check "replicas serve the seeded users" until_ok 15 all_served

# --- L2: what web1 read, web2 finds in the cache nodes ------------------------------------------------
hits_before=$(l2_hits "$web2")
for id in "${users[@]}"; do curl -s -m 2 -o /dev/null "$web1/users/$id"; done
for id in "${users[@]}"; do curl -s -m 2 -o /dev/null "$web2/users/$id"; done
hits_after=$(l2_hits "$web2")
echo "lab_cache: web2 L2 hits $hits_before -> $hits_after after ${#users[@]} reads filled by web1"
check "web2 hits L2 for users web1 read" test "$hits_after" -ge $((hits_before + ${#users[@]} / 2))
check "keys on every cache node" test "$(keys_on 10.77.1.50)" -gt 0 -a "$(keys_on 10.77.1.51)" -gt 0 -a "$(keys_on 10.77.1.52)" -gt 0
check "answers match the database" matches_db "${users[@]}"

# --- kill one cache node under load: zero failed requests, data still correct -------------------
hits_before=$(l2_hits "$web1")
start_loads
check "load flowing" wait_answered 200
check "chaos kill cache2" "$ztm" lab chaos kill cache2 --dir "$dir"
check "load goes on after the kill" wait_answered 1000
stop_loads
echo "lab_cache: cache2 killed: $ok_total ok, $failed_total failed; web1: L2 hits $hits_before -> $(l2_hits "$web1")," \
  "gutter lookups $(metric "$web1" 'ztm_cache_gutter_lookups_total{layer="l2"}')," \
  "unavailable $(metric "$web1" 'ztm_cache_unavailable_total{layer="l2"}')"
check "cache2 killed: zero failed requests" test "$failed_total" -eq 0 -a "$ok_total" -gt 0
check "cache2 killed: answers match the database" matches_db "${users[@]}"
up2=$(curl -s -m 2 "$web1/metrics" | grep -c '^ztm_cache_l2_node_up{node="10.77.1.51:6379"} 0')
check "web1 sees cache2 out of the ring" test "$up2" -eq 1

# --- every cache node dead: reads go to the database, still no failure -----------------------------
check "chaos kill cache1" "$ztm" lab chaos kill cache1 --dir "$dir"
check "chaos kill cache3" "$ztm" lab chaos kill cache3 --dir "$dir"
start_loads
check "all nodes dead: load flowing" wait_answered 1000
stop_loads
echo "lab_cache: all cache nodes killed: $ok_total ok, $failed_total failed; web1: unavailable" \
  "$(metric "$web1" 'ztm_cache_unavailable_total{layer="l2"}')"
check "all nodes dead: zero failed requests" test "$failed_total" -eq 0 -a "$ok_total" -gt 0
check "all nodes dead: answers match the database" matches_db "${users[@]}"

check "chaos start cache1..3" "$ztm" lab chaos start cache2 --dir "$dir"
"$ztm" lab chaos start cache1 --dir "$dir" >/dev/null && "$ztm" lab chaos start cache3 --dir "$dir" >/dev/null
check "nodes back: answers match the database" matches_db "${users[@]}"

"$ztm" lab down --dir "$dir" >/dev/null 2>&1
nothing_left "after down"
echo "lab_cache: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
