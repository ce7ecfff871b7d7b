#!/usr/bin/env bash
# Stage stateless (figure 1-14): HAProxy, three `ztm serve` with sessions in Redis (primary
# redis1, replica redis2) behind three Sentinels (docs/lab.md). A session made on one web server
# is valid on every other one and survives the death of the server that made it; when the Redis
# primary dies, Sentinel promotes the replica, sessions made before still work, and requests
# fail at most during the switch, with 503 (never 500). Usage: lab_stateless_test.sh PATH_TO_ZTM.
# Needs root; exits 77 (skipped) when it cannot run here.
set -uo pipefail
ztm=$1
. "$(dirname "$0")/../support/check.sh"
. "$(dirname "$0")/lab_common.sh"
. "$(dirname "$0")/lab_load.sh"
lab_setup lab_stateless ip jq curl haproxy redis-server redis-cli

web1=http://10.77.1.10:8080 web2=http://10.77.1.11:8080 web3=http://10.77.1.12:8080
login() { john_token "$1"; }
me_is_john() {  # me_is_john BASE_URL TOKEN
  [ "$(curl -sf -m 2 -H "Authorization: Bearer $2" "$1/me" | jq -r .id)" = 12 ]
}
me_status() { curl -s -m 2 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "$1/me"; }
sentinel_primary_is() {  # asks sen1 itself (the status refreshes once a second)
  [ "$(rcli -h 10.77.1.31 -p 26379 SENTINEL get-master-addr-by-name ztm-sessions | paste -sd:)" = "$1" ]
}
redis_role() { status_json | jq -r --arg h "$1" '.hosts[] | select(.name == $h) | .role'; }
redis_role_is() { [ "$(redis_role "$1")" = "$2" ]; }
same_dbsize() { [ "$(rcli -h 10.77.1.40 DBSIZE)" = "$(rcli -h 10.77.1.41 DBSIZE)" ]; }
replica_caught_up() {  # the replica has every write the primary has
  local p r
  p=$(rcli -h 10.77.1.40 INFO replication | tr -d '\r' | awk -F: '/^master_repl_offset/ { print $2 }')
  r=$(rcli -h 10.77.1.41 INFO replication | tr -d '\r' | awk -F: '/^slave_repl_offset/ { print $2 }')
  [ -n "$p" ] && [ "$p" = "$r" ]
}

out=$("$ztm" lab up --stage stateless --dir "$dir" 2>&1); status=$?
check "up stateless exits 0" test "$status" -eq 0 ||
  { echo "$out" >&2; echo "lab_stateless: $passed passed, $failed failed"; exit 1; }
url=$(status_json | jq -r .url)
check "three servers UP in the pool" until_ok 10 pool_up 3
check "redis1 is the primary" test "$(redis_role redis1)" = primary
check "redis2 is its replica" test "$(redis_role redis2)" = replica
check "every Sentinel names redis1" \
  test "$(status_json | jq -r '[.hosts[] | select(.roles | index("sentinel")) | .primary] | unique | join(",")')" = 10.77.1.40:6379
check "web servers find Redis through the Sentinels" \
  contains "$(cat "$dir/hosts/web1/ztm/ztm.toml")" 'redis_sentinels = "10.77.1.31:26379,10.77.1.32:26379,10.77.1.33:26379"'
# Issue 13, finding 9: every client of Redis and of the Sentinels logs in as an ACL user.
redis_locked_down redis1 redis 6379 redis.conf
redis_locked_down redis2 redis 6379 redis.conf
redis_locked_down sen1 sentinel 26379 sentinel.conf
check "the service's user may ask a Sentinel where the primary is, and nothing more" \
  test "$(rcli_service -h 10.77.1.31 -p 26379 SENTINEL get-master-addr-by-name ztm-sessions | paste -sd:),$(rcli_service -h 10.77.1.31 -p 26379 SENTINEL masters 2>&1 | cut -c1-6)" = "10.77.1.40:6379,NOPERM"
check "the service's user may not FLUSHALL the sessions" \
  contains "$(rcli_service -h 10.77.1.40 FLUSHALL 2>&1)" "NOPERM"

if [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' -X POST -d '{}' "$web1/sessions")" = 404 ]; then
  # The session API is not in this build yet: the infrastructure is checked, not the sessions.
  echo "lab_stateless: note: ztm serve has no POST /sessions yet; session checks skipped" >&2
  sessions=no
else
  sessions=yes
fi

# --- a) a session made on web1 works on web2 and web3, and after web1 dies -----------------------
if [ "$sessions" = yes ]; then
  token=$(login "$web1")
  check "log in through web1 directly" test -n "$token" -a "$token" != null
  check "the session works on web2 directly" me_is_john "$web2" "$token"
  check "the session works on web3 directly" me_is_john "$web3" "$token"
  check "no session, no /me" test "$(me_status "$web2" not-a-token)" = 401
  check "chaos kill web1" "$ztm" lab chaos kill web1 --dir "$dir"
  r=$(bench "$url/me" -H "Authorization: Bearer $token" -n 300 -c 3 -d 20)
  check "web1 dead: the session works through the LB, 300 of 300 ($(jq -c '{ok, failed_by, servers}' <<<"$r"))" \
    test "$(jq '.ok == 300 and .failed == 0' <<<"$r")" = true
  check "chaos start web1" "$ztm" lab chaos start web1 --dir "$dir"
  check "web1 back in the pool" until_ok 10 pool_up 3
fi

# --- c) a POST that reached a frozen server is not replayed on another (issue 13, finding 7) ----
# web1 is frozen (SIGSTOP) while four POSTs go through the LB; the one sent to web1 times out at
# HAProxy (timeout server 10 s). Before, HAProxy resent it to another server (201) and web1,
# thawed, ran it too: two users. Now a POST is retried only when its connection failed before it
# was sent, so each POST creates at most one user, and each one answered 201 exactly one.
if [ "$sessions" = yes ]; then
  admin=$(curl -sf -m 5 -X POST -H 'Content-Type: application/json' \
    -d '{"email":"admin@example.com","password":"admin-demo-password"}' "$url/sessions" | jq -r .token)
  web1_pid=$(status_json | jq -r '.hosts[] | select(.name == "web1") | .processes[0].pid')
  check "freeze web1 (SIGSTOP, pid $web1_pid)" kill -STOP "$web1_pid"
  for i in 1 2 3 4; do
    curl -s -m 30 -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $admin" \
      -H 'Content-Type: application/json' "$url/users" \
      -d '{"firstName":"Once'"$i"'","lastName":"Posted","address":{"streetAddress":"1 Main St","city":"Oslo","state":"OS","postalCode":12345},"phoneNumbers":["+47 22 00 00 00"]}' \
      >"$work/post$i" &
  done
  wait
  kill -CONT "$web1_pid"
  check "web1 back in the pool after the thaw" until_ok 15 pool_up 3
  count_named() {  # count_named NAME: users whose firstName is NAME, over every page
    local next="/users?limit=100" n=0 page
    while [ "$next" != null ]; do
      page=$(curl -sf -m 5 "$url$next") || return 1
      n=$((n + $(jq --arg f "$1" '[.users[] | select(.firstName == $f)] | length' <<<"$page")))
      next=$(jq -r .next <<<"$page")
    done
    echo "$n"
  }
  statuses=$(cat "$work"/post1 "$work"/post2 "$work"/post3 "$work"/post4 | paste -sd' ')
  check "post-once: one POST went to the frozen web1 and was not answered 201 ($statuses)" \
    test "$(tr ' ' '\n' <<<"$statuses" | grep -vc '^201$')" -ge 1
  web1_ran_a_post() {  # web1 has answered a POST /users (the one it held while frozen)
    curl -sf -m 2 "$web1/metrics" |
      awk '/^ztm_http_requests_total[{].*method="POST".*route="[/]users"/ { n += $2 } END { exit !(n >= 1) }'
  }
  check "post-once: web1, thawed, has run the POST it held" until_ok 15 web1_ran_a_post
  echo "lab_stateless: post-once: 4 POSTs while web1 was frozen: $statuses; users created: $(for i in 1 2 3 4; do count_named "Once$i"; done | paste -sd' ')"
  for i in 1 2 3 4; do
    n=$(count_named "Once$i")
    if [ "$(cat "$work/post$i")" = 201 ]; then
      check "post-once: POST $i (201) created exactly one user ($n)" test "$n" = 1
    else
      check "post-once: POST $i ($(cat "$work/post$i")) created at most one user ($n)" test "$n" -le 1
    fi
  done
fi

# --- e) the Redis primary dies: Sentinel promotes the replica ------------------------------------
if [ "$sessions" = yes ]; then
  before=$(login "$url")
  check "a session made through the LB before the failover" me_is_john "$url" "$before"
  check "the replica has it" until_ok 10 replica_caught_up
  start_load "$url/me" -H "Authorization: Bearer $before" --rate 200 -n 20000 -d 60 --timeout-ms 5000
  check "failover: load is flowing" until_ok 10 load_flowing
fi
check "the replica has every write" until_ok 10 replica_caught_up
t0=$(date +%s%N)
check "chaos kill redis1" "$ztm" lab chaos kill redis1 --dir "$dir"
check "Sentinel promotes redis2 within 15 s" until_ok 15 sentinel_primary_is 10.77.1.41:6379
switch_ms=$((($(date +%s%N) - t0) / 1000000))
check "redis2 is the primary" until_ok 5 redis_role_is redis2 primary
check "rewritten by the failover, redis2's and sen1's config files are still 0600" \
  test "$(stat -c '%a' "$dir/hosts/redis2/redis/redis.conf" "$dir/hosts/sen1/sentinel/sentinel.conf" | paste -sd,)" = 600,600
echo "lab_stateless: Sentinel switched the primary to redis2 in $switch_ms ms (polled every 50 ms)"
if [ "$sessions" = yes ]; then
  check "failover: the old session works again through the LB within 15 s" until_ok 15 me_is_john "$url" "$before"
  recovered_ms=$((($(date +%s%N) - t0) / 1000000))
  wait_load_requests 400
  stop_load
  echo "lab_stateless: load across the failover: $(jq -c '{ok, failed, failed_by, status}' <<<"$r"); sessions served again ${recovered_ms} ms after the kill"
  check "failover: no 500, no lost connection: failures are 503 only ($(jq -c .failed_by <<<"$r"))" \
    test "$(jq '[.failed_by | keys[] | select(. != "status_503")] | length' <<<"$r")" -eq 0
  # At 200 requests/s, failures beyond the switch plus 3 s would mean the service kept failing.
  check "failover: requests fail only around the switch ($(jq .failed <<<"$r") failed)" \
    test "$(jq .failed <<<"$r")" -le $(((switch_ms + 3000) * 200 / 1000))
  check "failover: sessions made before still work" me_is_john "$web2" "$before"
  after=$(login "$url")
  check "failover: a new login works and is valid everywhere" me_is_john "$web3" "$after"
fi
check "chaos start redis1" "$ztm" lab chaos start redis1 --dir "$dir"
check "redis1 rejoins as a replica of redis2" until_ok 20 redis_role_is redis1 replica
if [ "$sessions" = yes ]; then
  check "the new primary's sessions reach the old one" until_ok 10 same_dbsize
fi

out=$("$ztm" lab down --dir "$dir" 2>&1)
check "down exits 0" test $? -eq 0
nothing_left "down"
echo "lab_stateless: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
