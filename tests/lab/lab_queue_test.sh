#!/usr/bin/env bash
# Stage queue (figures 1-18/1-19): HAProxy, three `ztm serve` publishing photo edit jobs through
# the outbox to NATS JetStream (nats1), worker hosts running `ztm worker` (docs/lab.md). Jobs
# submitted through the load balancer all finish with the right size; a worker killed with -9
# mid-batch loses no job and makes no second result; with NATS stopped the submissions still
# get 202 and every job finishes once it is back; the worker autoscaler adds workers while the
# queue is deep and goes back to its minimum once it is empty.
# Usage: lab_queue_test.sh PATH_TO_ZTM. Needs root; exits 77 (skipped) when it cannot run here.
set -uo pipefail
ztm=$1
. "$(dirname "$0")/../support/check.sh"
. "$(dirname "$0")/lab_common.sh"
. "$(dirname "$0")/lab_load.sh"
lab_setup lab_queue ip jq curl haproxy redis-server nats-server convert psql

crop='{"operations":[{"op":"crop","x":0,"y":0,"width":600,"height":400},{"op":"blur","sigma":2}]}'
# A slower job (a wide blur of the whole photo, a few hundred ms): keeps jobs in a worker's hands
# long enough to kill it mid-job, and a backlog deep for longer than the autoscaler waits.
slow='{"operations":[{"op":"blur","sigma":20}]}'
sql() { psql "$db" -tAc "$1"; }
# submit N FILE [OPS]: N edit jobs of $photo through the LB (OPS: $crop); appends each 202's
# job id to FILE and counts the other answers in $refused. Bounded: N requests of at most 5 s each.
submit() {
  local i answer code ops=${3:-$crop}
  refused=0
  for ((i = 0; i < $1; i++)); do
    answer=$(curl -s -m 5 -w '\n%{http_code}' -X POST -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d "$ops" "$url/photos/$photo/edits")
    code=$(tail -n 1 <<<"$answer")
    if [ "$code" = 202 ]; then head -n 1 <<<"$answer" | jq -r .id >>"$2"; else refused=$((refused + 1)); fi
  done
}
declare -A result_of  # job id -> its result photo id, the first time it was seen done
changed=0             # jobs whose result id changed after it was set
# all_done FILE: every job in FILE is done (polls the not-done ones once; records result ids)
all_done() {
  local id j left=0
  while read -r id; do
    [ -n "${result_of[$id]:-}" ] && continue
    j=$(curl -s -m 2 -H "Authorization: Bearer $token" "$url/jobs/$id")
    if [ "$(jq -r .status <<<"$j" 2>/dev/null)" = "done" ]; then
      result_of[$id]=$(jq -r .result.id <<<"$j")
    else
      left=$((left + 1))
    fi
  done <"$1"
  [ "$left" -eq 0 ]
}
# results_hold FILE [WxH]: every job still names the result it named first, and each result has
# the size WxH (600x400)
results_hold() {
  local id j bad=0 size=${2:-600x400}
  while read -r id; do
    j=$(curl -s -m 2 -H "Authorization: Bearer $token" "$url/jobs/$id")
    [ "$(jq -r .result.id <<<"$j")" = "${result_of[$id]}" ] || { changed=$((changed + 1)); bad=1; }
    [ "$(jq -r '"\(.result.width)x\(.result.height)"' <<<"$j")" = "$size" ] || bad=1
  done <"$1"
  [ "$bad" -eq 0 ]
}
results_in_db_are() { [ "$(sql "select count(*) from photos where source_id = $photo")" = "$1" ]; }
worker_count() { status_json | jq '.worker_autoscale.workers'; }
workers_are() { [ "$(worker_count)" = "$1" ]; }
workers_at_least() { [ "$(worker_count)" -ge "$1" ]; }
pending() { status_json | jq -r '.worker_autoscale.pending'; }
done_count() { sql "select count(*) from jobs where photo_id = $photo and status = 'done'"; }
redelivered() { sql "select count(*) from jobs where photo_id = $photo and attempts > 1"; }

started=$SECONDS
out=$("$ztm" lab up --stage queue --dir "$dir" 2>&1); status=$?
check "up queue exits 0" test "$status" -eq 0 ||
  { echo "$out" >&2; echo "lab_queue: $passed passed, $failed failed"; exit 1; }
db="postgresql://ztm:$(app_password)@10.77.1.20:5432/ztm"
check "NATS runs as user nats, the workers and servers as ztm, Redis as redis (security.md, finding 9)" \
  test "$(users_of nats)|$(users_of worker)|$(users_of ztm)|$(users_of redis)" = "nats|ztm|ztm|redis"
echo "lab_queue: up in $((SECONDS - started)) s"
url=$(status_json | jq -r .url)
check "three web servers UP in the pool" until_ok 10 pool_up 3
check "two workers" workers_are 2
check "web servers publish to NATS, run no workers, keep bytes in PostgreSQL" \
  contains "$(tr -d ' ' <"$dir/hosts/web1/ztm/ztm.toml")" $'nats_url="nats://10.77.1.60:4222"'
check "worker health through its own /healthz" curl -sf -m 2 -o /dev/null http://10.77.1.71:8080/healthz

token=$(john_token "$url")
check "log in through the LB" test -n "$token" -a "$token" != null
photo=$(upload_photo "$url" "$token" 1200x900)
check "upload a 1200x900 JPEG through the LB" test -n "$photo" -a "$photo" != null

# --- a) N jobs, all done with the expected size ----------------------------------------------------
started=$SECONDS
submit 20 "$work/a.ids"
check "a: 20 submissions, 20 x 202" test "$(wc -l <"$work/a.ids")" -eq 20 -a "$refused" -eq 0
check "a: every job done within 60 s" until_ok 60 all_done "$work/a.ids"
echo "lab_queue: a: 20 jobs done in $((SECONDS - started)) s"
check "a: each result 600x400, its id stable" results_hold "$work/a.ids"
check "a: one result photo per job" results_in_db_are 20

# --- b) kill -9 a worker host while jobs run: each job done exactly once --------------------------
# The batch waits in NATS while both workers are stopped, so that the kill lands mid-batch
# (submitting takes longer than running): the first jobs are done, most are not, and each
# worker holds `worker.concurrency` (2) jobs.
"$ztm" lab chaos stop work1 --dir "$dir" >/dev/null && "$ztm" lab chaos stop work2 --dir "$dir" >/dev/null
done_before=$(done_count)
submit 40 "$work/b.ids" "$slow"
check "b: 40 submissions, 40 x 202" test "$(wc -l <"$work/b.ids")" -eq 40 -a "$refused" -eq 0
"$ztm" lab chaos start work1 --dir "$dir" >/dev/null && "$ztm" lab chaos start work2 --dir "$dir" >/dev/null
check "b: jobs are being worked on" until_ok 30 eval '[ "$(done_count)" -gt "$done_before" ]'
check "b: chaos kill work1 with most jobs left" test "$(done_count)" -lt $((done_before + 30))
"$ztm" lab chaos kill work1 --dir "$dir" >/dev/null
started=$SECONDS
check "b: every job done within 60 s (redelivered after the 5 s ack wait)" until_ok 60 all_done "$work/b.ids"
echo "lab_queue: b: 40 jobs done $((SECONDS - started)) s after the kill; $(redelivered) delivered more than once"
check "b: the killed worker held jobs: they were delivered again" test "$(redelivered)" -ge 1
check "b: each result 1200x900, its id stable" results_hold "$work/b.ids" 1200x900
check "b: exactly one result photo per job (60)" results_in_db_are 60
check "b: chaos start work1" "$ztm" lab chaos start work1 --dir "$dir"

# --- c) NATS stopped while jobs are submitted: 202 all the same, none lost ------------------------
check "c: chaos stop nats1" "$ztm" lab chaos stop nats1 --dir "$dir"
submit 20 "$work/c.ids"
check "c: 20 submissions with NATS down, 20 x 202" test "$(wc -l <"$work/c.ids")" -eq 20 -a "$refused" -eq 0
check "c: chaos start nats1" "$ztm" lab chaos start nats1 --dir "$dir"
started=$SECONDS
check "c: every job done within 60 s of NATS's return" until_ok 60 all_done "$work/c.ids"
echo "lab_queue: c: 20 jobs done $((SECONDS - started)) s after NATS came back"
check "c: each result 600x400, its id stable" results_hold "$work/c.ids"
check "c: exactly one result photo per job (80)" results_in_db_are 80

# --- d) the worker autoscaler: deep queue -> more workers; empty -> back to min -------------------
check "d: autoscale workers on" "$ztm" lab autoscale workers --min 1 --max 3 --up-pending 20 --dir "$dir"
started=$SECONDS
check "d: empty queue: back to 1 worker within 30 s" until_ok 30 workers_are 1
echo "lab_queue: d: 2 -> 1 workers in $((SECONDS - started)) s (queue empty)"
# A backlog: the jobs wait in the outbox while NATS is stopped and arrive at once when it is back.
"$ztm" lab chaos stop nats1 --dir "$dir" >/dev/null
submit 120 "$work/d.ids" "$slow"
check "d: 120 submissions, 120 x 202" test "$(wc -l <"$work/d.ids")" -eq 120 -a "$refused" -eq 0
"$ztm" lab chaos start nats1 --dir "$dir" >/dev/null
started=$SECONDS
check "d: the queue is deep" until_ok 30 eval '[ "$(pending)" != null ] && [ "$(pending)" -gt 20 ]'
check "d: a worker added within 20 s" until_ok 20 workers_at_least 2
echo "lab_queue: d: 1 -> $(worker_count) workers $((SECONDS - started)) s after the backlog (pending $(pending))"
most=0
all_done_tracking() {  # all_done, and the most workers seen meanwhile
  local n
  n=$(worker_count)
  [ "$n" -gt "$most" ] && most=$n
  all_done "$1"
}
check "d: every job done within 120 s" until_ok 120 all_done_tracking "$work/d.ids"
echo "lab_queue: d: 120 jobs done $((SECONDS - started)) s after the backlog, with at most $most workers"
check "d: exactly one result photo per job (200)" results_in_db_are 200
started=$SECONDS
check "d: queue empty: back to 1 worker within 40 s" until_ok 40 workers_are 1
echo "lab_queue: d: back to 1 worker $((SECONDS - started)) s after the last job"
decisions=$(status_json | jq -r '.worker_autoscale.decisions[].action')
check "d: decisions in status: added" contains "$decisions" "autoscale workers 1 -> 2"
check "d: decisions in status: removed" contains "$decisions" "autoscale workers 2 -> 1"
check "d: status table shows the worker autoscaler" contains "$("$ztm" lab status --dir "$dir")" "autoscale workers: on"
check "no result id ever changed" test "$changed" -eq 0

"$ztm" lab down --dir "$dir" >/dev/null 2>&1
nothing_left "after down"
echo "lab_queue: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
