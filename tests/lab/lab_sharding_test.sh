#!/usr/bin/env bash
# Stage sharding (docs/lab.md, docs/sharding.md): etcd1, four shard clusters s1..s4 (Patroni:
# a primary and a replica each, wal_level logical), web1 and web2 following the bucket map in
# etcd behind lb1, sessions in redis1, the cache tier. Up; the map in etcd (four shards, 256
# buckets each, every conninfo naming both members); users created through lb1 (admin creates
# and sign-ups) read back through both web servers; each user's row on exactly one shard, the
# one its bucket maps to, and every shard holding some; a shard's superuser reachable from
# another shard's host with its password; `scale shards=5` adds s5 (migrated, registered with no
# bucket, the web servers take the new map); a bucket moved onto s5 while its user is replaced in
# a loop; then 4 -> 5 shards (`ztm shard rebalance`, its mover kill -9ed mid-copy and
# mid-cutover, a third run finishing) under Zipf reads and writes from ledger_load.py, then
# `rebalance --by load` evening out the requests/s the servers report: no request failed, every
# acknowledged write audited on the shards, no replication left; down leaves nothing.
# Usage: lab_sharding_test.sh PATH_TO_ZTM. Needs root; exits 77 (skipped) otherwise.
# Run under `flock /tmp/ztm-lab.lock` when other labs may start on the machine.
set -uo pipefail
ztm=$1
. "$(dirname "$0")/../support/check.sh"
. "$(dirname "$0")/lab_common.sh"
. "$(dirname "$0")/lab_load.sh"
lab_setup lab_sharding ip jq curl psql patroni etcd redis-server base64

lb=http://10.77.0.10 web1=http://10.77.1.10:8080 web2=http://10.77.1.11:8080 etcd=http://10.77.1.5:2379
on_first_failure() {
  tail -n 20 "$dir/supervisor.log" "$dir"/hosts/s*/patroni/patroni.log "$dir"/hosts/web*/*/ztm.log \
    >&2 2>/dev/null
}
# The bucket map as etcd holds it (/ztm/shards/map, through etcd's JSON gateway).
shard_map() {
  curl -s -m 2 -X POST "$etcd/v3/kv/range" -d "{\"key\":\"$(printf /ztm/shards/map | base64)\"}" |
    jq -r '.kvs[0].value // empty' | base64 -d
}
map_version_is() {  # map_version_is V: every web server runs on map version V (its /metrics)
  local w
  for w in "$web1" "$web2" ${web3:-}; do
    [ "$(curl -s -m 2 "$w/metrics" | awk '$1 == "ztm_shard_map_version" { print $2 }')" = "$1" ] || return 1
  done
}
# The shard cluster's current primary (Patroni's role in `status`), e.g. s1a.
primary_of() {
  status_json | jq -r --arg s "$1" \
    '[.hosts[] | select((.name | startswith($s)) and (.name | length) == ($s | length) + 1 and .role == "primary") | .name] | .[0] // empty'
}
# sql HOST SQL: psql as postgres over the member's Unix socket (the lab's own access path).
sql() { psql -X -qAt -h "$dir/hosts/$1/patroni/run" -U postgres -d ztm -v ON_ERROR_STOP=1 -c "$2" 2>/dev/null; }
shards_have_primaries() {
  local k
  for k in "$@"; do [ -n "$(primary_of "s$k")" ] || return 1; done
}

started=$SECONDS
out=$("$ztm" lab up --stage sharding --dir "$dir" 2>&1); rc=$?
check "up sharding exits 0" test "$rc" -eq 0 ||
  { echo "$out" >&2; echo "lab_sharding: $passed passed, $failed failed"; exit 1; }
echo "lab_sharding: up in $((SECONDS - started)) s"
check "every process healthy" test "$(status_json | jq '[.hosts[].processes[].healthy] | all')" = true
check "each shard cluster has a primary" until_ok 30 shards_have_primaries 1 2 3 4
check "s1a bootstrapped s1: it is the primary" test "$(primary_of s1)" = s1a

# --- the map in etcd -----------------------------------------------------------------------------
map=$(shard_map)
check "the map is in etcd" test -n "$map"
check "four shards s1..s4" test "$(jq -c '[.shards[].name]' <<<"$map")" = '["s1","s2","s3","s4"]'
check "both web servers run on map version 1" map_version_is 1
check "status shows the map: s1..s4, 256 buckets each" test \
  "$(status_json | jq -c '[.shard_map.version, [.shard_map.shards[] | [.name, .buckets]]]')" = \
  '[1,[["s1",256],["s2",256],["s3",256],["s4",256]]]'
check "the status table shows the map" contains "$("$ztm" lab status --dir "$dir")" \
  "shard map v1: s1 256 buckets s2 256 buckets s3 256 buckets s4 256 buckets"
check "256 buckets each" test "$(jq -c '[.buckets | group_by(.)[] | length]' <<<"$map")" = '[256,256,256,256]'
check "version 1, mode buckets" test "$(jq -c '[.version, .mode]' <<<"$map")" = '[1,"buckets"]'
check "s2's conninfo names both members, read-write" test \
  "$(jq -r '.shards[1].conninfo' <<<"$map")" = \
  "postgresql://ztm:$(app_password)@10.77.1.120:5432,10.77.1.121:5432/ztm?target_session_attrs=read-write"
check "web1 follows the map in etcd" grep -qF 'shard_map = "etcd://10.77.1.5:2379/ztm/shards/map"' \
  "$dir/hosts/web1/ztm/ztm.toml"

# web1's replica router per shard: a primary (1) and a replica (0) on each (ztm_pg_host_role{shard}).
routers_see_both() {
  local metrics k
  metrics=$(curl -s -m 2 "$web1/metrics")
  for k in 1 2 3 4; do
    [ "$(grep "^ztm_pg_host_role{.*shard=\"s$k\"" <<<"$metrics" | awk '{ print $2 }' | sort | paste -sd,)" = 0,1 ] || return 1
  done
}
# `ztm migrate` from inside web1's host reads the map from etcd and visits every shard.
migrate_lists() {  # migrate_lists SHARD...: ztm migrate on web1's config names each
  local out s
  out=$(ip netns exec ztm-web1 "$ztm" migrate --config "$dir/hosts/web1/ztm/ztm.toml" 2>&1) || return 1
  for s in "$@"; do grep -q "shard $s: schema version" <<<"$out" || return 1; done
}
check "ztm migrate in web1's host visits s1..s4 from the map in etcd" migrate_lists s1 s2 s3 s4
check "web1 routes each shard: a primary and a replica" until_ok 10 routers_see_both

# --- the shards are ready for bucket moves ----------------------------------------------------------
check "wal_level logical on a shard" test "$(sql s3a 'SHOW wal_level')" = logical
check "max_worker_processes 16" test "$(sql s3a 'SHOW max_worker_processes')" = 16
check "max_replication_slots 16, max_wal_senders 16" test \
  "$(sql s4a "SELECT current_setting('max_replication_slots') || ',' || current_setting('max_wal_senders')")" = 16,16
check "max_logical_replication_workers 8" test "$(sql s4b 'SHOW max_logical_replication_workers')" = 8
check "wal_retrieve_retry_interval 100ms" test "$(sql s1a 'SHOW wal_retrieve_retry_interval')" = 100ms
check "s1's superuser reaches s2 from s1a with its password" test "$(ip netns exec ztm-s1a \
  psql -X -qAt "postgresql://postgres:$(cat "$dir/secrets/postgres-admin")@10.77.1.120:5432/ztm" -c 'SELECT 1' 2>&1)" = 1
# security.md, finding 9: the web tier's role is no superuser, and the passwords are the lab's own.
check "the web tier's role is no superuser (it may read replication statistics)" test "$(sql s1a \
  "SELECT rolsuper::text || ',' || pg_has_role('ztm', 'pg_read_all_stats', 'member')::text FROM pg_roles WHERE rolname = 'ztm'")" = false,true
check "the web tier's role cannot create a subscription" contains "$(ip netns exec ztm-web1 psql -X -qAt \
  "postgresql://ztm:$(app_password)@10.77.1.120:5432/ztm" -c "CREATE SUBSCRIPTION x CONNECTION 'host=10.77.1.110' PUBLICATION x WITH (connect = false)" 2>&1)" \
  "must be superuser"
check "the lab's secrets are root's alone (0700, files 0600)" test \
  "$(stat -c '%a %U' "$dir/secrets" "$dir/secrets/postgres-app" | sort -u | paste -sd,)" = "600 root,700 root"
check "a server's config holding the password is 0600, its user's" test \
  "$(stat -c '%a %U' "$dir/hosts/web1/ztm/ztm.toml")" = "600 ztm"
check "each shard is migrated (the bucket column)" test "$(sql s2a \
  "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'bucket'")" = 1

# --- users through lb1, read back through both web servers ----------------------------------------
admin_token=$(curl -sf -m 5 -H 'Content-Type: application/json' \
  -d '{"email":"admin@example.com","password":"admin-demo-password"}' "$lb/sessions" | jq -r .token)
check "the demo admin logs in through lb1" test -n "$admin_token"
profile() { echo "{\"firstName\":\"$1\",\"lastName\":\"Shard\",\"address\":{\"streetAddress\":\"1 Main\",\"city\":\"C$1\",\"state\":\"Y\",\"postalCode\":1}}"; }
ids=()
for i in $(seq 1 40); do
  id=$(curl -s -m 10 -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $admin_token" \
    -d "$(profile "U$i")" "$lb/users" | jq -r '.id // empty')
  [ -n "$id" ] && ids+=("$id")
done
check "40 users created through lb1" test "${#ids[@]}" -eq 40
signed=0
for i in $(seq 1 12); do
  id=$(curl -s -m 10 -X POST -H 'Content-Type: application/json' \
    -d "{\"email\":\"shard$i@example.com\",\"password\":\"shard-password-$i\",\"profile\":$(profile "S$i")}" \
    "$lb/accounts" | jq -r '.user_id // empty')
  [ -n "$id" ] && { ids+=("$id"); signed=$((signed + 1)); }
done
check "12 sign-ups through lb1" test "$signed" -eq 12
relogin() {
  [ -n "$(curl -sf -m 5 -H 'Content-Type: application/json' \
    -d '{"email":"shard7@example.com","password":"shard-password-7"}' "$lb/sessions" | jq -r '.token // empty')" ]
}
check "a signed-up user logs in through lb1" relogin
read_back() {  # every user through both web servers, with its own name
  local id want w
  for id in "${ids[@]}"; do
    want=$(curl -s -m 5 "$web1/users/$id" | jq -r .firstName)
    [ -n "$want" ] && [ "$want" != null ] || { echo "user $id not at web1" >&2; return 1; }
    for w in "$web2" "$lb"; do
      [ "$(curl -s -m 5 "$w/users/$id" | jq -r .firstName)" = "$want" ] || { echo "user $id differs at $w" >&2; return 1; }
    done
  done
}
check "every user read back through web1, web2 and lb1" read_back

# --- each user's row on the shard its bucket maps to ------------------------------------------------
id_list=$(IFS=,; echo "${ids[*]}")
: >"$work/rows"
for k in 1 2 3 4; do
  p=$(primary_of "s$k")
  sql "$p" "SELECT id, bucket FROM users WHERE id IN ($id_list)" | sed "s/^/s$k|/" >>"$work/rows"
done
check "each user on exactly one shard" test "$(cut -d'|' -f2 "$work/rows" | sort | uniq | wc -l)" -eq "${#ids[@]}" -a \
  "$(wc -l <"$work/rows")" -eq "${#ids[@]}"
check "users on all four shards" test "$(cut -d'|' -f1 "$work/rows" | sort -u | wc -l)" -eq 4
on_its_shard() {  # each row's shard is the map's for its bucket
  local shard id bucket
  while IFS='|' read -r shard id bucket; do
    [ "$(jq -r --argjson b "$bucket" '.buckets[$b]' <<<"$map")" = "$shard" ] ||
      { echo "user $id (bucket $bucket) on $shard" >&2; return 1; }
  done <"$work/rows"
}
check "every row on the shard its bucket maps to" on_its_shard
echo "lab_sharding: users per shard: $(cut -d'|' -f1 "$work/rows" | sort | uniq -c | tr -s ' ' | tr '\n' ',')"

# --- a third web server on the same map (scale web=3) ---------------------------------------------
check "scale web=3 exits 0" "$ztm" lab scale web=3 --dir "$dir"
check "three web servers UP in lb1's pool" until_ok 10 pool_up 3
check "web3 follows the map in etcd" grep -qF 'shard_map = "etcd://10.77.1.5:2379/ztm/shards/map"' \
  "$dir/hosts/web3/ztm/ztm.toml"
web3=http://10.77.1.12:8080
check "web3 reads a user made through lb1" test \
  "$(curl -s -m 5 "$web3/users/${ids[0]}" | jq -r .firstName)" = U1

# --- scale shards=5 ------------------------------------------------------------------------------
started=$SECONDS
out=$("$ztm" lab scale shards=5 --dir "$dir" 2>&1); rc=$?
check "scale shards=5 exits 0" test "$rc" -eq 0 || echo "$out" >&2
echo "lab_sharding: scale shards=5 in $((SECONDS - started)) s"
check "s5 has a primary" until_ok 30 shards_have_primaries 5
map=$(shard_map)
check "the map lists five shards" test "$(jq -c '[.shards[].name]' <<<"$map")" = '["s1","s2","s3","s4","s5"]'
check "status shows s5 with 0 buckets" test \
  "$(status_json | jq -c '[.shard_map.version, (.shard_map.shards[] | select(.name == "s5") | .buckets)]')" = '[2,0]'
check "version 2, s5 without buckets yet" test "$(jq -c '[.version, (.buckets | index("s5"))]' <<<"$map")" = '[2,null]'
check "the web servers take the new map (version 2)" until_ok 10 map_version_is 2
check "s5 is migrated" test "$(sql "$(primary_of s5)" \
  "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'bucket'")" = 1
check "ztm migrate in web1's host visits s5 too" migrate_lists s1 s2 s3 s4 s5
check "s5 runs wal_level logical" test "$(sql s5b 'SHOW wal_level')" = logical
check "shrinking is refused" not "$ztm" lab scale shards=4 --dir "$dir"
check "users still read through lb1" read_back

# --- a bucket moved onto s5 while its user is written through lb1 (ztm shard, from etcd1's host) ---
# The mover logs in as the superuser (the map's role, the web tier's, may not create subscriptions).
admin=(--admin-user postgres --admin-password-file "$dir/secrets/postgres-admin")
shard_cmd() { ip netns exec ztm-etcd1 "$ztm" shard "$@" --etcd 10.77.1.5:2379 "${admin[@]}"; }
read -r from_shard mover_id bucket < <(head -1 "$work/rows" | tr '|' ' ')
: >"$work/puts"
(  # replaces of that user, one after another, until the move is finalised (at most 3000 or 120 s);
  # each line: the name sent and the status
  for i in $(seq 1 3000); do
    [ -e "$work/stop" ] || [ $SECONDS -gt $((started + 120)) ] && break
    code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
      -H "Authorization: Bearer $admin_token" -d "$(profile "M$i")" "$lb/users/$mover_id")
    echo "M$i $code" >>"$work/puts"
  done
) &
writer=$!
started=$SECONDS
until_ok 10 test -s "$work/puts"
out=$(shard_cmd move --bucket "$bucket" --to s5 2>&1); rc=$?
check "shard move of bucket $bucket ($from_shard -> s5) exits 0" test "$rc" -eq 0 || echo "$out" >&2
echo "lab_sharding: $(grep 'switched to' <<<"$out")"
check "the map assigns the bucket to s5, unfenced" test \
  "$(shard_map | jq -c --argjson b "$bucket" '[.buckets[$b], (.fenced // [] | index($b))]')" = '["s5",null]'
out=$(shard_cmd finalise --bucket "$bucket" 2>&1)
check "shard finalise exits 0" test $? -eq 0 || echo "$out" >&2
# The servers' load reports (every 5 s), while the writer goes on: the only user written is the
# one in that bucket.
hottest_bucket_is() {
  local out
  out=$(shard_cmd status 2>&1)
  [ "$(grep -A1 '^hot bucket' <<<"$out" | tail -n 1 | awk '{ print $1 "@" $NF }')" = "$1" ]
}
check "shard status: the servers' reports name bucket $bucket on s5 the hottest" \
  until_ok 15 hottest_bucket_is "$bucket@s5" || shard_cmd status >&2
cp "$work/puts" "$work/puts.at-finalise"  # the writer goes on a little past the finalise
until_ok 10 test "$(wc -l <"$work/puts")" -gt "$(wc -l <"$work/puts.at-finalise" 2>/dev/null || echo 0)"
touch "$work/stop"
wait "$writer"
last=$(tail -1 "$work/puts" | cut -d' ' -f1)
echo "lab_sharding: $(wc -l <"$work/puts") replaces during the move"
check "every replace during the move answered 200" test "$(awk '$2 != 200' "$work/puts" | wc -l)" -eq 0
check "the user's row is on s5 with the last name written" test \
  "$(sql "$(primary_of s5)" "SELECT first_name FROM users WHERE id = $mover_id")" = "$last"
check "nothing of the bucket is left on $from_shard" test \
  "$(sql "$(primary_of "$from_shard")" "SELECT count(*) FROM users WHERE bucket = $bucket")" = 0
check "lb1 reads the last name" until_ok 5 test "$(curl -s -m 5 "$lb/users/$mover_id" | jq -r .firstName)" = "$last"
out=$(shard_cmd status 2>&1)
check "shard status: five shards, no move in flight" test \
  "$(grep -cE '^s[1-5] +[0-9]+ +[0-9]+$' <<<"$out")-$(grep -c 'no moves in flight' <<<"$out")" = 5-1 || echo "$out" >&2

# --- 4 -> 5 shards under Zipf load, with a ledger; the mover killed mid-copy and mid-cutover -------
# Hot users: the 52 made above and 150 more, hottest first. ledger_load.py (8 threads through lb1)
# reads them Zipf(1.1), replaces them (each user written by one thread) and creates new ones,
# writing down every acknowledged write; afterwards every shard's rows are audited against it.
seq 1 150 | xargs -P 8 -I{} curl -s -m 10 -X POST -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $admin_token" -d "$(profile "Z{}")" "$lb/users" | jq -r '.id // empty' >"$work/more"
check "150 more users" test "$(wc -l <"$work/more")" -eq 150
{ printf '%s\n' "${ids[@]}"; cat "$work/more"; } >"$work/hot"
# For the follow storms after the reshard: 30 followers with sessions, a celebrity nobody reads
# yet, and 30 cold users (the spread storm's targets: the control).
seq 1 30 | xargs -P 4 -I{} curl -s -m 20 -X POST -H 'Content-Type: application/json' \
  -d "{\"email\":\"fan{}@example.com\",\"password\":\"fan-password-{}\",\"profile\":$(profile "F{}")}" \
  "$lb/accounts" | jq -r '.token // empty' >"$work/fans"
check "30 followers signed up" test "$(wc -l <"$work/fans")" -eq 30
celebrity=$(curl -s -m 10 -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $admin_token" \
  -d "$(profile Celebrity)" "$lb/users" | jq -r '.id // empty')
check "a celebrity" test -n "$celebrity"
echo "$celebrity" >"$work/celebrity"
tail -n 30 "$work/more" >"$work/spread"
dump_rows() {  # every shard's users: shard|id|first_name|bucket
  local k
  for k in 1 2 3 4 5; do sql "$(primary_of "s$k")" "SELECT id, first_name, bucket FROM users" | sed "s/^/s$k|/"; done
}
dump_rows >"$work/rows.before"
load="$work/load"
mkdir -p "$load"
python3 "$(dirname "$0")/ledger_load.py" run --base "$lb" --token "$admin_token" --ids "$work/hot" \
  --out "$load" --threads 8 --seconds 1200 --requests 2000000 >"$work/load.out" 2>&1 &
load_pid=$!
load_ok() {  # requests answered so far (0 before the first progress line)
  local n
  n=$(grep -o '"ok": [0-9]*' "$load/progress" 2>/dev/null | tail -n 1 | cut -d' ' -f2)
  echo "${n:-0}"
}
load_past() { [ "$(load_ok)" -ge "$1" ]; }
check "the load flows" until_ok 60 load_past 3000 || {
  tail -n 5 "$work/load.out" "$load/progress" >&2
  head -n 5 "$load/failures" >&2 2>/dev/null
}
echo during >"$load/phase"

# kill_rebalance_at PATTERN: starts `ztm shard rebalance --shards 5` and kill -9s it once its
# progress shows PATTERN (ip netns exec execs ztm: $! is the mover's pid).
kill_rebalance_at() {
  local log="$work/rebalance.$1.log"
  ip netns exec ztm-etcd1 "$ztm" shard rebalance --shards 5 --etcd 10.77.1.5:2379 "${admin[@]}" >"$log" 2>&1 &
  local mover=$!
  check "the rebalance reaches '$1'" until_ok 120 grep -q "$1" "$log" || cat "$log" >&2
  kill -9 "$mover"
  wait "$mover" 2>/dev/null
  local status=$?
  check "the mover was killed at '$1' (status 137, not done)" test "$status-$(grep -c 'rebalanced' "$log")" = 137-0
  sed "s/^/lab_sharding: killed mover: /" "$log"
}
started=$SECONDS
kill_rebalance_at ": copy"
kill_rebalance_at ": cutover"
out=$(timeout 600 ip netns exec ztm-etcd1 "$ztm" shard rebalance --shards 5 --etcd 10.77.1.5:2379 "${admin[@]}" 2>&1)
check "a third rebalance finishes what the killed ones left, and the rest" test $? -eq 0
sed "s/^/lab_sharding: rebalance: /" <<<"$out"
echo "lab_sharding: rebalance 4 -> 5 under load (two movers killed) in $((SECONDS - started)) s"
check "the load goes on after the rebalance" until_ok 60 load_past "$(($(load_ok) + 2000))"
check "the map: five shards of 204 or 205 buckets, nothing fenced" test \
  "$(shard_map | jq -c '[([.buckets | group_by(.)[] | length] | sort), (.fenced // [] | length)]')" = '[[204,205,205,205,205],0]'

# --- rebalance by load: a hot spot the servers report, under the same Zipf load -------------------
# Four new users in four buckets of one shard, written back to back by a second ledger load
# (4 threads, one user each, writes only): their shard gets far busier than the mean (1.5-1.7x on
# a quiet machine; once under 1.4x for 60 s in CI, the sanitizer builds beside it, hence the gate
# at 1.3x within 90 s). Not more writers: eight made the cutovers' reverse step (a logical slot
# that waits for the writes in flight) longer (3 s; the lab's servers hold writes 8 s). `rebalance --by load`
# moves buckets by the requests/s the servers report until each shard is within 10 % of the
# mean, the hot buckets among them, while they are written. Measured by the servers' next
# reports, not by the plan: the busiest shard's calls/s over the mean falls; every write of the
# hot spot answered, and audited at the end like the rest.
echo hotspot >"$load/phase"  # the Zipf load's requests from here are tagged apart from the 4 -> 5
seq 1 80 | xargs -P 4 -I{} curl -s -m 10 -X POST -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $admin_token" -d "$(profile "H{}")" "$lb/users" | jq -r '.id // empty' >"$work/fresh"
map=$(shard_map)
while read -r id; do  # id bucket shard
  b=$(sql "$(primary_of s1)" "SELECT ztm_bucket($id)")
  echo "$id $b $(jq -r --argjson b "$b" '.buckets[$b]' <<<"$map")"
done <"$work/fresh" >"$work/fresh.where"
hot_users=4
hot_shard=$(awk -v k=$hot_users '!seen[$2]++ { n[$3]++ } END { for (s in n) if (n[s] >= k) { print s; exit } }' "$work/fresh.where")
check "$hot_users of 80 new users in distinct buckets of one shard" test -n "$hot_shard"
awk -v s="$hot_shard" '$3 == s && !seen[$2]++ { print $1 }' "$work/fresh.where" | head -n $hot_users >"$work/hotspot.ids"
hotspot="$work/hotspot"
mkdir -p "$hotspot"
python3 "$(dirname "$0")/ledger_load.py" run --base "$lb" --token "$admin_token" --ids "$work/hotspot.ids" \
  --out "$hotspot" --threads $hot_users --write-share 1 --create-share 0 --seconds 300 --requests 500000 \
  >"$work/hotspot.out" 2>&1 &
hotspot_pid=$!
trap '[ -n "${hotspot_pid:-}" ] && kill "$hotspot_pid" 2>/dev/null; lab_cleanup' EXIT
shard_spread() {  # the busiest shard's calls/s over the mean, from `ztm shard status`; given a
  # shard, 0 unless that one is the busiest (the Zipf load alone can make another shard 1.5x busy)
  shard_cmd status 2>/dev/null | awk -v want="${1:-}" '/^shard +calls\/s/ { on = 1; next } /^hot bucket/ { on = 0 }
    on { name[n] = $1; v[n++] = $2; sum += $2 } END {
      top = 0; for (i in v) if (v[i] > top) { top = v[i]; busiest = name[i] }
      if (n == 0 || sum == 0 || (want != "" && busiest != want)) print "0"
      else printf "%.3f\n", top / (sum / n) }'
}
spread_above() { spread_before=$(shard_spread "$hot_shard"); awk -v a="$spread_before" -v b="$1" 'BEGIN { exit !(a >= b) }'; }
check "the servers' reports show the hot spot: $hot_shard the busiest shard, at 1.3x the mean or more" \
  until_ok 90 spread_above 1.3 || { shard_cmd status >&2; tail -5 "$work/hotspot.out" >&2; }
out=$(timeout 300 ip netns exec ztm-etcd1 "$ztm" shard rebalance --shards 5 --by load --etcd 10.77.1.5:2379 "${admin[@]}" 2>&1)
check "rebalance --by load" test $? -eq 0 || echo "$out" >&2
sed "s/^/lab_sharding: rebalance by load: /" <<<"$out"
hot_moved() {  # how many of the hot spot's buckets left their shard
  local now b moved=0
  now=$(shard_map)
  for b in $(awk -v s="$hot_shard" '$3 == s && !seen[$2]++ { print $2 }' "$work/fresh.where" | head -n $hot_users); do
    [ "$(jq -r --argjson b "$b" '.buckets[$b]' <<<"$now")" = "$hot_shard" ] || moved=$((moved + 1))
  done
  echo "$moved"
}
check "rebalance --by load moved hot spot buckets off $hot_shard" test "$(hot_moved)" -ge 1
spread_below() {  # within $1 of the mean and below the spread before
  spread_after=$(shard_spread)
  awk -v a="$spread_after" -v b="$1" -v was="$spread_before" 'BEGIN { exit !(a > 0 && a <= b && a < was) }'
}
check "the servers' next reports: the busiest shard within 1.3x the mean, below the ${spread_before}x before" \
  until_ok 40 spread_below 1.3 || shard_cmd status >&2
echo "lab_sharding: busiest shard's calls/s over the mean: ${spread_before}x before the rebalance by load, ${spread_after}x after ($(hot_moved) of $hot_users hot buckets moved off $hot_shard)"
kill -TERM "$hotspot_pid"
wait "$hotspot_pid"
hotspot_pid=
echo "lab_sharding: hot spot load: $(cat "$hotspot/summary.json")"
check "every write of the hot spot answered, through the rebalance" test "$(jq .failed "$hotspot/summary.json")" -eq 0 ||
  head -5 "$hotspot/failures" >&2
echo after >"$load/phase"

# --- a follow storm on one celebrity, beside the same storm spread over 30 users -------------------
# 30 followers follow and unfollow back to back for 15 s each time, while the ledger load goes on:
# first each a user of its own (the control), then all of them the celebrity. The celebrity's
# counts are 16 split rows and its edges rows of their own, so nothing serialises on one row:
# the other users' p99 during the celebrity's storm stays within 2x (+20 ms) of the control's.
storm() {  # storm PHASE TARGETS
  echo "$1" >"$load/phase"
  python3 "$(dirname "$0")/follow_storm.py" --base "$lb" --tokens "$work/fans" --targets "$2" \
    --out "$work/storm.$1" --seconds 15 --requests 40000 >"$work/storm.$1.json"
}
storm spread "$work/spread"
check "the spread storm: no request failed" test $? -eq 0 || cat "$work/storm.spread.json" >&2
storm celebrity "$work/celebrity"
check "the celebrity's storm: no request failed" test $? -eq 0 || cat "$work/storm.celebrity.json" >&2
echo calm >"$load/phase"
echo "lab_sharding: storm spread: $(jq -c .kinds "$work/storm.spread.json")"
echo "lab_sharding: storm celebrity: $(jq -c .kinds "$work/storm.celebrity.json")"
fans_expected=$(cut -d' ' -f2 "$work/storm.celebrity/expected" | sort | paste -sd,)
celebrity_followers() {  # the celebrity's followers page (by id) and count are the storm's last word
  local page count
  page=$(curl -s -m 5 "$web1/users/$celebrity/followers?limit=100" | jq -r '.users[].id' | sort | paste -sd,)
  count=$(curl -s -m 5 "$web1/users/$celebrity" | jq -r .followers)
  [ "$page" = "$fans_expected" ] && [ "$count" = "$(wc -l <"$work/storm.celebrity/expected")" ]
}
follows_relayed() {  # no follow message waits in any shard's outbox
  local k
  for k in 1 2 3 4 5; do
    [ "$(sql "$(primary_of "s$k")" "SELECT count(*) FROM outbox WHERE topic = 'follow'")" = 0 ] || return 1
  done
}
# ~9,600 changes in 15 s: the relays drain them after the storm (bounded; usually a few seconds).
check "the storm's follow messages are relayed" until_ok 90 follows_relayed
check "the celebrity's followers and count: those whose last follow was acknowledged" \
  until_ok 20 celebrity_followers || {
  echo "expected ($(wc -l <"$work/storm.celebrity/expected")): $fans_expected" >&2
  for w in "$web1" "$web2" "$lb"; do
    echo "$w page: $(curl -s -m 5 "$w/users/$celebrity/followers?limit=100" | jq -r '.users[].id' | sort | paste -sd,)" >&2
    echo "$w count: $(curl -s -m 5 "$w/users/$celebrity" | jq -c '{followers, following}')" >&2
  done
  sql "$(primary_of "s$(($(jq -r --argjson b "$(sql "$(primary_of s1)" "SELECT ztm_bucket($celebrity)")" '.buckets[$b]' <<<"$(shard_map)" | tr -d s)))")" \
    "SELECT follower, active, version FROM followers WHERE followee = $celebrity ORDER BY follower" >&2
}
kill -TERM "$load_pid"
wait "$load_pid"
load_pid=
summary=$(cat "$load/summary.json")
echo "lab_sharding: load: $summary"
check "no request failed during the reshard" test "$(jq .failed <<<"$summary")" -eq 0 || head -5 "$load/failures" >&2
check "writes were acknowledged during the moves" test "$(jq '.phases.during.write.count // 0' <<<"$summary")" -gt 100
within_bound() {  # within_bound KIND: p99 of KIND in phase celebrity <= 2 x phase spread's + 20 ms
  jq -e --arg k "$1" '.phases.celebrity[$k].p99_ms <= 2 * .phases.spread[$k].p99_ms + 20' <<<"$summary" >/dev/null
}
for kind in read write; do
  check "other users' $kind p99 in the celebrity's storm within 2x (+20 ms) of the spread storm's" \
    within_bound "$kind"
done

map=$(shard_map)
check "the map: every bucket on one of five shards, each holding some, nothing fenced" test \
  "$(jq -c '[(.buckets | length), ([.buckets | group_by(.)[] | length] | length), (.fenced // [] | length)]' <<<"$map")" = '[1024,5,0]'
out=$(shard_cmd status 2>&1)
check "no move in flight" contains "$out" "no moves in flight"
echo "$map" >"$work/map.after"
dump_rows >"$work/rows.after"
audit=$(python3 "$(dirname "$0")/ledger_load.py" audit --ledger "$load/ledger" --rows "$work/rows.after" \
  --map "$work/map.after" --before "$work/rows.before")
check "the ledger audit: every acknowledged write there exactly once, every row where its bucket maps" \
  test $? -eq 0 || echo "$audit" >&2
audit=$(python3 "$(dirname "$0")/ledger_load.py" audit --ledger "$hotspot/ledger" --rows "$work/rows.after" --map "$work/map.after")
check "the hot spot's audit: each of its users holding its last acknowledged write" test $? -eq 0 || echo "$audit" >&2
echo "lab_sharding: audit: $(jq -c 'del(.missing, .doubled, .stale, .misplaced, .unknown_outcome)' <<<"$audit")"
no_replication_left() {
  local k p
  for k in 1 2 3 4 5; do
    p=$(primary_of "s$k")
    [ "$(sql "$p" "SELECT (SELECT count(*) FROM pg_subscription) + (SELECT count(*) FROM pg_publication)
      + (SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'logical')")" = 0 ] ||
      { echo "s$k ($p) keeps a subscription, publication or logical slot" >&2; return 1; }
  done
}
check "no subscription, publication or logical slot left on any shard" no_replication_left

# --- down ----------------------------------------------------------------------------------------
"$ztm" lab down --dir "$dir" >"$work/down.log" 2>&1
check "down exits 0" test $? -eq 0 || cat "$work/down.log" >&2
nothing_left "after down"

echo "lab_sharding: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
