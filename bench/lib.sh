# What the benchmark scripts share (sourced from the repository root): the packages, a Release
# build of ztm, a work directory, and the processes to end on exit.
# shellcheck shell=bash
. scripts/lib/packages.sh

# build_release TARGET...: a Release build (no tests) in build-release.
build_release() {
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DZTM_BUILD_TESTS=OFF \
    -DZTM_BUILD_BENCH=OFF >/dev/null
  cmake --build build-release --target "$@" >/dev/null
}

# $work: a fresh directory; pids+=(PID) registers a process to end (by pid) on exit.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# wait_for CMD...: polls CMD (every 50 ms, 10 s at most) until it succeeds; exits 1 otherwise.
wait_for() { for _ in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not up: $*" >&2; exit 1; }

# login URL EMAIL PASSWORD: prints the session token.
login() {
  curl -sf "$1/sessions" -H 'Content-Type: application/json' -d "{\"email\":\"$2\",\"password\":\"$3\"}" |
    sed -E 's/.*"token":"([^"]+)".*/\1/'
}

# --- wrk runs against servers of a script: it defines pid[NAME] (the server's pid) and port[NAME]
# (associative arrays) and cli_pin (the taskset prefix of wrk, may be empty); res[NAME MODE METRIC]
# gathers one value a round for med.
# cpu_ticks PID [user]: user+system CPU (clock ticks) of PID and of its children, or with `user`
# the user-space part alone: fields 14 and 15 of /proc/PID/stat, which cover every thread of a
# process (ztm's and h2o's threads); nginx's workers are processes, children of the master, hence
# the pgrep -P. The comm field (2) may hold spaces, so the fields are counted after its closing ')'.
cpu_ticks() {
  local p t=0
  for p in "$1" $(pgrep -P "$1" || true); do
    t=$((t + $(awk -v only="${2:-}" '{ sub(/^.*\) /, ""); print only == "user" ? $12 : $12 + $13 }' "/proc/$p/stat")))
  done
  echo "$t"
}
tck=$(getconf CLK_TCK)

# to_us LATENCY: wrk's latency ("812.00us", "1.20ms", "1.01s") in µs.
to_us() {
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : -1
    if (f < 0) { print "unknown unit: " v > "/dev/stderr"; exit 1 }
    printf "%.1f", n * f }'
}

# run_wrk SERVER MODE SECONDS: one wrk run of GET /users/12, keep-alive or pipelined ×16
# (bench/pipeline.lua), with the server's CPU ticks read right before and after it. Prints "rps p50_us
# p99_us cpu_us_per_request user_us_per_request client_busy_percent" (user: the part of the CPU
# time in user space; client: wrk's own CPU time over the run's wall time — near 100 %, the
# client and not the server sets the requests/s). Clock ticks are 10 ms: a 5 s run at ~60k
# requests/s uses ~500 ticks of server CPU, so the resolution is ~0.2% (1 tick); a 2 s run at
# 10k requests/s still has ~1%.
run_wrk() {
  local s=$1 mode=$2 d=$3 extra=() before after user_before user_after TIMEFORMAT='%U %S %R'
  [ "$mode" = pipelined ] && extra=(-s bench/pipeline.lua)
  user_before=$(cpu_ticks "${pid[$s]}" user)
  before=$(cpu_ticks "${pid[$s]}")
  { time "${cli_pin[@]}" wrk -t1 -c64 -d"${d}s" --latency "${extra[@]}" "http://127.0.0.1:${port[$s]}/users/12" \
    >"$work/wrk.out" 2>"$work/wrk.err"; } 2>"$work/wrk.time"
  after=$(cpu_ticks "${pid[$s]}")
  user_after=$(cpu_ticks "${pid[$s]}" user)
  if grep -q 'Non-2xx' "$work/wrk.out"; then echo "$s $mode: non-2xx answers" >&2; cat "$work/wrk.out" >&2; exit 1; fi
  grep 'Socket errors' "$work/wrk.out" | sed "s/^/$s $mode: /" >&2 || true
  local rps p50 p99 n
  # "N requests in Xs": wrk counts each response, one per pipelined request too.
  read -r rps p50 p99 n < <(awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    / requests in / {n=$1} END {print rps, p50, p99, n}' "$work/wrk.out")
  [ -n "$n" ] || { echo "$s $mode: wrk gave no count" >&2; cat "$work/wrk.out" "$work/wrk.err" >&2; exit 1; }
  echo "$rps $(to_us "$p50") $(to_us "$p99") $(awk -v t=$((after - before)) -v u=$((user_after - user_before)) \
    -v hz="$tck" -v n="$n" 'BEGIN { printf "%.2f %.2f", t / hz / n * 1e6, u / hz / n * 1e6 }') $(awk \
    '{ printf "%.0f", ($1 + $2) / $3 * 100 }' "$work/wrk.time")"
}

# median: the median of the numbers on stdin, one a line (the mean of the middle two for an even count).
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# med SERVER MODE METRIC: the median over the rounds.
med() { tr ' ' '\n' <<<"${res[$1 $2 $3]}" | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
int() { awk -v a="$1" 'BEGIN { printf "%.0f", a }'; }


# --- nginx as its users tune it: each instance its own conf, pid file and port, in the foreground
# (daemon off), so $! is the master; its workers are its children.
# nginx_conf NAME SERVER_BODY: writes $work/NAME.conf, listening on port[NAME] with $threads
# workers; NGINX_MAIN: more main-context lines (bench/instructions.sh: master_process off).
nginx_conf() {
  cat >"$work/$1.conf" <<NGINX
user root;
worker_processes ${threads:-1};
daemon off;
${NGINX_MAIN:-}
pid $work/$1.pid;
error_log $work/$1-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=1000 inactive=60s;
  open_file_cache_valid 60s;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  default_type application/json;
  server {
    listen 127.0.0.1:${port[$1]} reuseport;
$2
  }
}
NGINX
}

# nginx_add_headers HEAD_FILE: add_header lines that make nginx send the header lines of
# HEAD_FILE (a response head as `curl -D` writes it) that it does not write itself, so that both
# servers send the same bytes (the client's cost per answer grows with its size). X-Request-Id
# is nginx's own id of each request ($request_id), as its users would send one.
nginx_add_headers() {
  local name value
  while IFS=: read -r name value; do
    name=${name%$'\r'} value=${value# } value=${value%$'\r'}
    # shellcheck disable=SC2016 # ('$request_id': nginx's variable, for nginx to expand)
    case ${name,,} in
      http/* | date | server | content-type | content-length | connection | '') continue ;;
      x-request-id) value='$request_id' ;;
      *) [[ $value != *[\'\$\\]* ]] || { echo "$name: nginx's add_header cannot carry its value" >&2; exit 1; } ;;
    esac
    printf "    add_header %s '%s';\n" "$name" "$value"
  done <"$1"
}

# nginx_return_location FILE: the server-block line that answers GET /users/12 with FILE's bytes
# from the config itself (`return 200 '...'`: nginx answering from memory). Backslashes and single
# quotes are escaped; nginx (1.22) has no escape for '$' (it would start a variable), so a body
# with one is refused rather than mangled.
nginx_return_location() {
  local body
  IFS= read -r -d '' body <"$1" || true
  [[ $body != *'$'* ]] || { echo "the body has a '\$', which nginx's return cannot carry" >&2; exit 1; }
  body=${body//\\/\\\\}
  body=${body//\'/\\\'}
  echo "    location = /users/12 { default_type application/json; return 200 '$body'; }"
}
