#!/usr/bin/env bash
# ztm lab stage `replication` with real engines (docs/lab.md): etcd + three Patroni members
# (PostgreSQL 15). Up, roles and lag in status --json, a write reaching both replicas,
# pause-replay / resume-replay, killing the primary (Patroni fails over), the old primary
# rejoining as a replica, down leaving nothing; then the whole stage with its web tier.
# Usage: lab_replication_test.sh PATH_TO_ZTM [data|web]: `data` (default) the data tier alone
# (up --hosts etcd1,db1,db2,db3), `web` the whole stage with web1 and web2 on the multi-host URL.
# Needs root; exits 77 (skipped) when it cannot run.
set -uo pipefail
ztm=$1
part=${2:-data}
if [ "$(id -u)" -ne 0 ]; then echo "lab_replication: skipped: needs root"; exit 77; fi
for tool in ip jq psql patroni etcd; do
  command -v "$tool" >/dev/null || { echo "lab_replication: FAILED: needs $tool (scripts/test installs TEST_PACKAGES)"; exit 1; }
done
if [ -n "$(ip netns list | grep '^ztm-')$(ip -o link | grep ': ztm-')" ]; then
  echo "lab_replication: skipped: a lab is up on this machine (ztm lab down first)"; exit 77
fi
work=$(mktemp -d)
chmod 755 "$work"  # Patroni and etcd run as their own users and must reach their directories
dir="$work/lab"
on_first_failure() {  # what the engines said, while the lab still has it (see check.sh)
  tail -n 15 "$dir/supervisor.log" "$dir"/hosts/*/patroni/patroni.log "$dir"/hosts/web*/*/ztm.log \
    >&2 2>/dev/null
}
cleanup() { "$ztm" lab down --dir "$dir" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
. "$(dirname "$0")/../support/check.sh"
. "$(dirname "$0")/lab_common.sh"
status() { "$ztm" lab status --json --dir "$dir"; }
role_of() { status | jq -r --arg h "$1" '.hosts[] | select(.name == $h) | .role'; }
field_of() { status | jq -r --arg h "$1" --arg f "$2" '.hosts[] | select(.name == $h) | .[$f]'; }
primary() { status | jq -r '[.hosts[] | select(.role == "primary") | .name] | if length == 1 then .[0] else "" end'; }
db_roles() { status | jq -r '[.hosts[] | select(.roles | index("db")) | .role] | sort | join(",")'; }
# sql HOST SQL: psql as postgres over the member's Unix socket (the lab's own access path).
sql() { psql -X -qAt -h "$dir/hosts/$1/patroni/run" -U postgres -d ztm -v ON_ERROR_STOP=1 -c "$2" 2>/dev/null; }
has_row() { test "$(sql "$1" "SELECT count(*) FROM lab_probe WHERE id = $2")" = 1; }
lsn_bytes() { sql "$1" "SELECT pg_wal_lsn_diff($2, '0/0')::bigint"; }
is_replica() { local r; r=$(role_of "$1"); [ "$r" = replica ] || [ "$r" = sync_standby ]; }
one_primary_two_replicas() {
  local r; r=$(db_roles)
  [ "$r" = "primary,replica,sync_standby" ] || [ "$r" = "primary,replica,replica" ]
}
sync_writes() { test "$(field_of "$(primary)" writes)" = sync; }

if [ "$part" = data ]; then
# --- the data tier: etcd1, db1..db3 --------------------------------------------------------------
start=$SECONDS
out=$("$ztm" lab up --stage replication --hosts etcd1,db1,db2,db3 --dir "$dir" 2>&1); rc=$?
check "up (data tier) exits 0" test "$rc" -eq 0
check "up within 60 s" test $((SECONDS - start)) -le 60
check "up shows progress" contains "$out" "db2/patroni: healthy"
[ "$rc" -eq 0 ] || echo "$out" >&2
check "etcd healthy" test "$(status | jq -r '.hosts[] | select(.name == "etcd1") | .processes[0].healthy')" = true
check "one primary, two replicas" one_primary_two_replicas
check "db1 bootstrapped the cluster: it is the primary" test "$(primary)" = db1
check "lag_bytes on every db host" test "$(status | jq '[.hosts[] | select(.roles | index("db")) | has("lag_bytes")] | all')" = true
check "a synchronous standby is chosen" until_ok 10 sync_writes
check "status table shows roles" contains "$("$ztm" lab status --dir "$dir")" "[primary, writes sync"

# --- a write on the primary reaches both replicas ------------------------------------------------
check "write on the primary" sql db1 "CREATE TABLE lab_probe (id int PRIMARY KEY); INSERT INTO lab_probe VALUES (1)"
check "the row reaches db2" until_ok 10 has_row db2 1
check "the row reaches db3" until_ok 10 has_row db3 1
check "a replica refuses writes" not sql db2 "INSERT INTO lab_probe VALUES (2)"

# --- pause-replay: db2 stops applying WAL while the primary moves on --------------------------------
check "chaos pause-replay db2" "$ztm" lab chaos pause-replay db2 --dir "$dir"
check "pause-replay on the primary fails" not "$ztm" lab chaos pause-replay db1 --dir "$dir"
# Paused, db2 keeps receiving WAL but applies no commit: its replay LSN stays before the end of
# the next commit (the primary's LSN right after it), the rows stay invisible, the lag grows.
check "write while db2 is paused" sql db1 "INSERT INTO lab_probe SELECT generate_series(100, 5099)"
committed=$(lsn_bytes db1 "pg_current_wal_lsn()")
db2_received() { [ "$(lsn_bytes db2 "pg_last_wal_receive_lsn()")" -ge "$committed" ]; }
lag_grows() { [ "$(field_of db2 lag_bytes)" -gt 0 ] && [ "$(field_of db2 replay_paused)" = true ]; }
check "db2 receives the WAL" until_ok 10 db2_received
check "db2's replay LSN stops before the commit" test "$(lsn_bytes db2 "pg_last_wal_replay_lsn()")" -lt "$committed"
check "db2 does not show the new rows" not has_row db2 100
check "the primary's WAL advances past db2's replay" sql db1 "INSERT INTO lab_probe VALUES (6000)"
check "db2's replay LSN still stops before the first commit" test "$(lsn_bytes db2 "pg_last_wal_replay_lsn()")" -lt "$committed"
check "status: db2 lag grows, replay paused" until_ok 5 lag_grows
check "db3 keeps replaying" until_ok 10 has_row db3 5099
check "chaos resume-replay db2" "$ztm" lab chaos resume-replay db2 --dir "$dir"
caught_up() { [ "$(field_of db2 lag_bytes)" = 0 ] && has_row db2 6000 && [ "$(field_of db2 replay_paused)" = false ]; }
check "db2 catches up" until_ok 10 caught_up

# --- the primary dies: Patroni promotes the synchronous standby --------------------------------------
old=$(primary)
check "chaos kill the primary ($old)" "$ztm" lab chaos kill "$old" --dir "$dir"
killed=$SECONDS
old_postgres_gone() { ! pgrep -f -- "$dir/hosts/$old/patroni/data" >/dev/null; }
check "the killed host's PostgreSQL died with Patroni" until_ok 3 old_postgres_gone
new_primary() { local p; p=$(primary); [ -n "$p" ] && [ "$p" != "$old" ]; }
check "another host becomes primary within 30 s" until_ok 30 new_primary
echo "lab_replication: failover took $((SECONDS - killed)) s" >&2
new=$(primary)
# Patroni may report the role a moment before the promoted server accepts writes; a failed INSERT
# commits nothing, so retrying it is safe.
check "write on the new primary ($new)" until_ok 10 sql "$new" "INSERT INTO lab_probe VALUES (7)"
check "status: the old primary is down" test "$(role_of "$old")" = down
check "chaos start the old primary" "$ztm" lab chaos start "$old" --dir "$dir"
check "the old primary rejoins as a replica" until_ok 30 is_replica "$old"
check "it has the write made after failover" until_ok 15 has_row "$old" 7

out=$("$ztm" lab down --dir "$dir" 2>&1)
check "down exits 0" test $? -eq 0
nothing_left "down"

# --- the supervisor dies with -9: Patroni and its PostgreSQL keep running, down still cleans -----
check "up etcd1 and db1 alone" "$ztm" lab up --stage replication --hosts etcd1,db1 --dir "$dir" >/dev/null
kill -9 "$(jq .supervisor.pid "$dir/lab.json")"
# up waits for Patroni; PostgreSQL and the bootstrap's ztm database may answer a moment later.
check "PostgreSQL outlives the supervisor" until_ok 20 sql db1 "SELECT 1"
out=$("$ztm" lab down --dir "$dir" 2>&1)
check "down after a crash exits 0" test $? -eq 0
check "down kills the orphaned Patroni" contains "$out" "killing db1/patroni"
nothing_left "down after crash"
fi

if [ "$part" = web ]; then
# --- the whole stage: web1 and web2 with every db host in their URL ------------------------------
out=$("$ztm" lab up --stage replication --dir "$dir" 2>&1); rc=$?
check "full stage: up exits 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || echo "$out" | tail -20 >&2
url=$(status | jq -r .url)
check "full stage: url is web1" test "$url" = http://10.77.1.10:8080
check "full stage: GET /users/12 through web1" contains "$(curl -sf -m 2 "$url/users/12")" '"firstName":"John"'
check "full stage: web2 lists users" contains "$(curl -sf -m 2 "http://10.77.1.11:8080/users?limit=1")" '"id":'
check "full stage: web1 still running" test "$(status | jq -r '.hosts[] | select(.name == "web1") | .processes[0].state')" = running
# After the primary dies, the web tier follows Patroni's promotion (ztm serve's role discovery,
# seen in its metrics) and keeps answering.
web_primary() { curl -sf -m 2 "$url/metrics" | awk '/^ztm_pg_host_role/ && $2 == 1 { print $1 }'; }
check "full stage: web1 sees db1 as primary" contains "$(web_primary)" '10.77.1.20:5432'

# Creating users is an admin's job: the demo admin (seeded by the lab) logs in first.
admin_token=$(curl -sf -m 5 -H 'Content-Type: application/json' \
  -d '{"email":"admin@example.com","password":"admin-demo-password"}' "$url/sessions" | jq -r .token)
check "full stage: the demo admin logs in" test -n "$admin_token"
metric() { curl -sf -m 2 "$url/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# --- staleness: a writer/reader pair runs through every chaos case below (rw_pair.sh) -------------
# The read path's promise in this stage: a replica serves reads only while proven to have every
# write acknowledged more than storage.postgres_max_replica_lag_ms (1 s) ago, and a web server's
# own L1 copy lives at most cache.ttl_ms (500 ms, +10 % jitter; deploy/ztm/ztm-postgres.toml).
# So a read issued 1.55 s after an acknowledgement sees it; 1.7 s leaves room for a load in flight.
. "$(dirname "$0")/rw_pair.sh"
bound=1700
pair_id=$(curl -sf -m 5 -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $admin_token" \
  -d "$(user_body Pair V0)" "$url/users" | jq -r .id)
check "full stage: the pair's user is created" test -n "$pair_id"
rw="$work/rw"
rw_start "$url" "$pair_id" "$admin_token" "$rw"
lines() { [ "$(wc -l < "$1")" -ge "$2" ]; }  # lines FILE N: FILE has at least N lines
acked_pair() { lines "$rw/writes" "$1"; }
# phase NAME FROM TO: the pair's reads in the window; zero violations, and the numbers printed.
phase() {
  local r; r=$(rw_check "$rw" "$bound" "$2" "$3")
  echo "staleness, $1: violations reads failed_reads max_stale_ms = $r" >&2
  check "full stage: $1: no read staler than ${bound} ms" test "${r%% *}" = 0
  check "full stage: $1: the pair read during it" test "$(echo "$r" | awk '{ print $2 }')" -gt 20
  # Reads no host can serve during a failover are held too (docs/postgres.md): none fails.
  check "full stage: $1: no read failed" test "$(echo "$r" | awk '{ print $3 }')" = 0
}
replica_with_role() { status | jq -r --arg r "$1" '[.hosts[] | select(.role == $r) | .name][0] // ""'; }
address_of() { status | jq -r --arg h "$1" '.hosts[] | select(.name == $h) | .address'; }
# What web1's router proves about HOST (ztm_pg_replica_lag_seconds; -1: nothing proves it).
web_lag() { curl -sf -m 2 "$url/metrics" | awk -v h="$(address_of "$1"):5432" '$1 == "ztm_pg_replica_lag_seconds{host=\"" h "\"}" { print $2 }'; }
untrusted() { local l; l=$(web_lag "$1"); [ -n "$l" ] && awk -v l="$l" 'BEGIN { exit !(l < 0 || l > 1) }'; }
trusted() { local l; l=$(web_lag "$1"); [ -n "$l" ] && awk -v l="$l" 'BEGIN { exit !(l >= 0 && l <= 1) }'; }
check "full stage: the pair's writes are acknowledged" until_ok 30 acked_pair 20
trusts_both() { trusted "$(replica_with_role replica)" && trusted "$(replica_with_role sync_standby)"; }
check "full stage: web1 trusts both replicas" until_ok 15 trusts_both

# (c) replay paused on a replica: it receives WAL but applies nothing; the router stops trusting it.
from=$(now_ms); base=$(wc -l < "$rw/writes")
paused=$(replica_with_role replica)
check "full stage: chaos pause-replay $paused" "$ztm" lab chaos pause-replay "$paused" --dir "$dir"
check "full stage: web1 stops trusting the paused replica" until_ok 10 untrusted "$paused"
check "full stage: writes go on while it is paused" until_ok 30 acked_pair $((base + 60))
check "full stage: chaos resume-replay $paused" "$ztm" lab chaos resume-replay "$paused" --dir "$dir"
check "full stage: web1 trusts it again" until_ok 15 trusted "$paused"
phase "replay paused" "$from" "$(now_ms)"

# (a) a replica cut off from the primary (both still reach the web servers). The asynchronous
# one: cutting the synchronous standby would stall every commit until Patroni picks another.
from=$(now_ms); base=$(wc -l < "$rw/writes")
cut=$(replica_with_role replica); primary_host=$(primary)
check "full stage: chaos cut $cut $primary_host" "$ztm" lab chaos cut "$cut" "$primary_host" --dir "$dir"
check "full stage: web1 stops trusting the cut replica" until_ok 10 untrusted "$cut"
check "full stage: writes go on while it is cut off" until_ok 30 acked_pair $((base + 60))
check "full stage: chaos heal" "$ztm" lab chaos heal "$cut" "$primary_host" --dir "$dir"
check "full stage: web1 trusts it again after the heal" until_ok 30 trusted "$cut"
phase "replica cut off" "$from" "$(now_ms)"

# (b) kill -9 of the primary's host under steady creates, each sent once with its own
# Idempotency-Key and never retried by the client: the web tier holds the writes across the
# failover (storage.postgres_hold_ms) and sends again only those it may. Every request
# must end 201; every acknowledged user must be on the new primary exactly once.
# kill_under_creates FILE PREFIX keyed|plain: creates (create_writer) until 30 are acknowledged,
# then kill -9 of the primary's host; returns when the writer is done. Sets `killed`, `codes`.
kill_under_creates() {
  : > "$1"
  create_writer "$url" "$admin_token" "$1" "$2" "$3" &
  local pid=$!
  check "full stage: $2 creates are acknowledged before the kill" until_ok 30 lines "$1" 30
  killed=$(primary)
  check "full stage: chaos kill $killed (the primary) under $2 creates" "$ztm" lab chaos kill "$killed" --dir "$dir"
  wait "$pid"
  codes=$(awk '{ print $4 }' "$1" | sort | uniq -c | awk '{ print $1, $2 }' | paste -sd, -)
}
acks="$work/acks"
from=$(now_ms)
kill_under_creates "$acks" Keyed keyed
old_primary=$killed
web_followed() { local p; p=$(web_primary); [ -n "$p" ] && ! contains "$p" "$(address_of "$old_primary"):5432"; }
check "full stage: web1 follows the new primary within 30 s" until_ok 30 web_followed
longest=$(quantile_ms "$acks" 1)
echo "kill -9 of the primary under keyed creates: $(wc -l < "$acks") creates, codes: $codes; write latency p50 $(quantile_ms "$acks" 0.5) ms, p99 $(quantile_ms "$acks" 0.99) ms, max ${longest} ms; held $(metric ztm_pg_held_total) calls, $(metric ztm_pg_hold_seconds_total) s in all" >&2
check "full stage: every keyed create was answered 201 (no client-visible failure)" test "$codes" = "$(wc -l < "$acks") 201"
check "full stage: the kill interrupted writes (the longest waited >= 1 s)" test "$longest" -ge 1000
check "full stage: held calls were counted" awk -v n="$(metric ztm_pg_held_total)" 'BEGIN { exit !(n >= 1) }'
new_primary=$(primary)
ids=$(awk '{ print $3 }' "$acks" | paste -sd, -)
check "full stage: every acknowledged user is on the new primary ($new_primary)" \
  test "$(sql "$new_primary" "SELECT count(*) FROM users WHERE id IN ($ids)")" = "$(wc -l < "$acks")"
check "full stage: exactly one user per create" \
  test "$(sql "$new_primary" "SELECT count(*) FROM users WHERE first_name = 'Keyed'")" = "$(wc -l < "$acks")"
check "full stage: one idempotency key per user" \
  test "$(sql "$new_primary" "SELECT count(DISTINCT user_id) FROM idempotency_keys WHERE key LIKE 'Keyed-%'")" = "$(wc -l < "$acks")"
phase "primary killed" "$from" "$(now_ms)"
check "full stage: chaos start $old_primary" "$ztm" lab chaos start "$old_primary" --dir "$dir"
check "full stage: $old_primary rejoins as a replica" until_ok 30 is_replica "$old_primary"

# (b') the same without keys: a create in flight at the kill may have committed, so the web tier
# answers it 503 rather than send it again; the others are held. Never a duplicate.
plain="$work/plain"
from=$(now_ms)
kill_under_creates "$plain" Plain plain
second=$killed
echo "kill -9 of the primary under plain creates: codes: $codes" >&2
# The service picks a user's id before the store call, so a create sent twice would collide on
# it and answer 409: this check is the guard against a second send; the count below confirms.
only_201_or_503() { awk '$4 != 201 && $4 != 503 { bad++ } END { exit bad > 0 }' "$plain"; }
check "full stage: plain creates end 201 or 503, nothing else" only_201_or_503
check "full stage: at most a few plain creates were answered 503" test "$(awk '$4 == 503' "$plain" | wc -l)" -le 4
third=$(primary)
check "full stage: a third primary took over" test -n "$third" -a "$third" != "$second"
ids=$(awk '$4 == 201 { print $3 }' "$plain" | paste -sd, -)
check "full stage: every acknowledged plain create is on $third" \
  test "$(sql "$third" "SELECT count(*) FROM users WHERE id IN ($ids)")" = "$(awk '$4 == 201' "$plain" | wc -l)"
check "full stage: no plain create made two users" \
  test "$(sql "$third" "SELECT count(*) - count(DISTINCT last_name) FROM users WHERE first_name = 'Plain'")" = 0
phase "second primary killed" "$from" "$(now_ms)"
rw_stop "$rw"
phase "the whole run" 0 "$(now_ms)"
check "full stage: web1 lists users after failover" contains "$(curl -sf -m 2 "$url/users?limit=1")" '"id":'
"$ztm" lab down --dir "$dir" >/dev/null 2>&1
nothing_left "full stage down"
fi

echo "lab_replication ($part): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
