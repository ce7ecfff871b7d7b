#!/usr/bin/env bash
# The ztm binary as a user runs it: --help, configuration sources and errors, migrate and
# seed, serve with a graceful exit on SIGTERM. Usage: cli_test.sh PATH_TO_ZTM
set -uo pipefail
ztm=$1
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
. "$(dirname "$0")/../support/check.sh"

# --help lists every option with its environment variable.
help=$("$ztm" serve --help)
check "help lists http.port" contains "$help" "--http.port"
check "help names env vars" contains "$help" "ZTM_HTTP_PORT"
check "help lists cache.policy choices" contains "$help" "[s3fifo|lru|lfu|fifo]"

# Sources: defaults -> TOML -> environment -> flags.
printf '[http]\nport = 9001\nthreads = 3\n[cache]\npolicy = "lfu"\n' > "$work/ztm.toml"
out=$(ZTM_HTTP_PORT=9002 "$ztm" config print --config "$work/ztm.toml" --http.threads 4)
check "toml sets cache.policy" contains "$out" 'policy = "lfu"'
check "env beats toml" contains "$out" "port = 9002"
check "flag beats toml" contains "$out" "threads = 4"

# Errors name the option and the source, exit status 2.
err=$("$ztm" serve --http.port 70000 2>&1); status=$?
check "bad flag exits 2" test "$status" -eq 2
check "bad flag message" contains "$err" "command line: option 'http.port': 70000 is out of range [0..65535]"
err=$(ZTM_CACHE_POLICY=random "$ztm" serve 2>&1); status=$?
check "bad env exits 2" test "$status" -eq 2
check "bad env message" contains "$err" "environment: option 'cache.policy': 'random' is not one of s3fifo, lru, lfu, fifo"
printf '[http]\nprot = 1\n' > "$work/bad.toml"
err=$("$ztm" serve --config "$work/bad.toml" 2>&1); status=$?
check "unknown toml key exits 2" test "$status" -eq 2
check "unknown toml key message" contains "$err" "unknown option 'http.prot'"

# A shard map (docs/sharding.md) that is missing or wrong stops the server before it serves.
err=$("$ztm" serve --storage.shard_map "$work/shards.json" 2>&1); status=$?
check "shard map without the postgres backend exits 2" test "$status" -eq 2
check "shard map without postgres: says why" contains "$err" "'storage.shard_map' needs 'storage.backend' postgres"
err=$("$ztm" serve --storage.backend postgres --storage.shard_map "$work/shards.json" 2>&1); status=$?
check "a missing shard map exits non-zero" test "$status" -ne 0
check "a missing shard map: names the file" contains "$err" "storage.shard_map: cannot read $work/shards.json"
printf '{"version":1,"mode":"buckets","shards":[{"name":"s0","conninfo":"postgresql:///x"}],"buckets":[]}' >"$work/shards.json"
err=$("$ztm" serve --storage.backend postgres --storage.shard_map "$work/shards.json" 2>&1); status=$?
check "a wrong shard map exits non-zero" test "$status" -ne 0
check "a wrong shard map: names the problem" contains "$err" "buckets"

# migrate, then seed (idempotent).
db="$work/ztm.db"
out=$("$ztm" migrate --storage.sqlite_path "$db")
check "migrate reports versions" contains "$out" "schema version 0 -> 10"
out=$("$ztm" seed --storage.sqlite_path "$db")
check "seed loads demo users" contains "$out" "loaded 22 demo users"
out=$("$ztm" seed --storage.sqlite_path "$db")
check "seed is idempotent" contains "$out" "nothing loaded"

# serve on a free port, answer, and exit 0 on SIGTERM.
"$ztm" serve --storage.sqlite_path "$db" --http.port 0 --log.access all > "$work/out" 2> "$work/err" &
server_pid=$!
url=""
for _ in $(seq 200); do
  url=$(sed -n 's/^ztm serve: listening on //p' "$work/out")
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  wait_50ms
done
check "serve prints its URL" test -n "$url"
body=$(curl -sf "$url/users/12")
check "GET /users/12 through the binary" contains "$body" '"firstName":"John","lastName":"Smith"'
check "access log is JSON with a request id" grep -q '"msg":"request","request_id":"' "$work/err"
curl -sf "$url/metrics" > "$work/serve.metrics"
check "serve: /metrics passes promtool check metrics with no problem" \
  sh -c "promtool check metrics < '$work/serve.metrics'"

# ztm bench --paths: each line in turn (two users and an unknown one, twice); a bad file refused.
printf '/users/12\n/users/22\n\n/users/999999\n' > "$work/paths"
out=$("$ztm" bench "$url/" --paths "$work/paths" -n 6 -c 1)
check "bench --paths: lines sent in turn" test "$(jq -c '[.ok, .status]' <<<"$out")" = '[4,{"200":4,"404":2}]'
check "bench --paths: the paths reached the server" test "$(grep -c '"path":"/users/999999"' "$work/err")" -eq 2
printf '/users/12\r\n\n/users/22\r\n' > "$work/paths"
out=$("$ztm" bench "$url/" --paths "$work/paths" -n 2 -c 1)
check "bench --paths: CRLF lines" test "$(jq -c '[.ok, .status]' <<<"$out")" = '[2,{"200":2}]'
for bad in 'users/13' '/users/1 3' "/users/$(printf '\001')"; do
  printf '/users/12\n%s\n' "$bad" > "$work/paths"
  err=$("$ztm" bench "$url/" --paths "$work/paths" -n 1 2>&1); status=$?
  check "bench --paths: '$bad' exits 2" test "$status" -eq 2
  check "bench --paths: names line 2" contains "$err" "line 2 must be a path starting with '/'"
done
err=$("$ztm" bench "$url/" --paths "$work/no-such-file" -n 1 2>&1); status=$?
check "bench --paths: a missing file exits 2" test "$status" -eq 2
kill -TERM "$server_pid"
wait "$server_pid"; status=$?
server_pid=""
check "SIGTERM exits 0" test "$status" -eq 0
check "shutdown is logged" grep -q '"msg":"stopped","abandoned_connections":0' "$work/err"

# ztm worker (photo workers as their own process): health on its own port, SIGTERM exits 0.
"$ztm" worker --storage.sqlite_path "$db" --http.port 0 > "$work/wout" 2> "$work/werr" &
server_pid=$!
wurl=""
for _ in $(seq 200); do
  wurl=$(sed -n 's/^ztm worker: .*metrics on //p' "$work/wout")
  [ -n "$wurl" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  wait_50ms
done
check "worker prints its metrics URL" test -n "$wurl"
check "worker health" contains "$(curl -sf "$wurl/healthz")" '"status":"ok"'
curl -sf "$wurl/metrics" > "$work/worker.metrics"
check "worker metrics count jobs" grep -q '^ztm_queue_pending 0$' "$work/worker.metrics"
check "worker metrics: the oldest job's age (none: 0)" \
  grep -q '^ztm_queue_oldest_age_seconds 0$' "$work/worker.metrics"
check "worker: /metrics passes promtool check metrics with no problem" \
  sh -c "promtool check metrics < '$work/worker.metrics'"
kill -TERM "$server_pid"
wait "$server_pid"; status=$?
server_pid=""
check "worker: SIGTERM exits 0" test "$status" -eq 0

# ztm shard: a bad argument exits 2 before reaching etcd; an etcd that does not answer exits 1
# naming the endpoint (the moves themselves: src/storage/sharding/mover_test.cc).
err=$("$ztm" shard move --bucket 1024 --to s2 --etcd 127.0.0.1:1 2>&1); status=$?
check "shard move: a bucket past 1023 exits 2" test "$status" -eq 2
check "shard move: says the range" contains "$err" "bucket 1024 is not in 0..1023"
err=$("$ztm" shard move --bucket 17,x,40 --to s2 --etcd 127.0.0.1:1 2>&1); status=$?
check "shard move: a bad list exits 2" test "$status" -eq 2
check "shard move: names the bad item" contains "$err" "'x' is not a bucket number"
err=$("$ztm" shard move --bucket 17,18, --to s2 --etcd 127.0.0.1:1 2>&1); status=$?
check "shard move: a trailing comma exits 2" test "$status" -eq 2
err=$("$ztm" shard move --bucket 17,18,17 --to s2 --etcd 127.0.0.1:1 2>&1); status=$?
check "shard move: a duplicate exits 2" test "$status" -eq 2
check "shard move: names the duplicate" contains "$err" "bucket 17 is listed twice"
err=$("$ztm" shard move --bucket 3,-1 --to s2 --etcd 127.0.0.1:1 2>&1); status=$?
check "shard move: a negative bucket in a list exits 2" test "$status" -eq 2
check "shard move: a negative bucket: says the range" contains "$err" "bucket -1 is not in 0..1023"
err=$("$ztm" shard rebalance --shards 5 --batch 0 --etcd 127.0.0.1:1 2>&1); status=$?
check "shard rebalance: --batch 0 exits 2" test "$status" -eq 2
check "shard rebalance: says the batch range" contains "$err" "--batch 0 is not in 1..1024"
err=$("$ztm" shard abort --bucket 1024 --etcd 127.0.0.1:1 2>&1); status=$?
check "shard abort: a bucket past 1023 exits 2" test "$status" -eq 2
err=$("$ztm" shard abort --bucket 17 --etcd 127.0.0.1:1 2>&1); status=$?
check "shard abort: no etcd exits 1" test "$status" -eq 1
help=$("$ztm" shard --help 2>&1)
check "shard help: shows a list of buckets and the batch" contains "$help" "--bucket 17,18,40 --to s5"
err=$("$ztm" shard status --etcd 'not an endpoint' 2>&1); status=$?
check "shard status: a bad --etcd exits 2" test "$status" -eq 2
err=$("$ztm" shard status --etcd 127.0.0.1:1 2>&1); status=$?
check "shard status: no etcd exits 1" test "$status" -eq 1
check "shard status: names the endpoint" contains "$err" "127.0.0.1:1"
err=$("$ztm" shard init "$work/no-such-map" --etcd 127.0.0.1:1 2>&1); status=$?
check "shard init: a missing file exits 2" test "$status" -eq 2
echo '{"version": 1, "mode": "buckets", "shards": []}' > "$work/bad-map.json"
err=$("$ztm" shard init "$work/bad-map.json" --etcd 127.0.0.1:1 2>&1); status=$?
check "shard init: an invalid map exits 2" test "$status" -eq 2

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
