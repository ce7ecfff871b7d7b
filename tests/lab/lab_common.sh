# Helpers shared by the lab's shell tests (sourced after tests/support/check.sh; uses $dir).
# shellcheck shell=bash
# Nothing of the lab is left: namespaces, links, cgroups, processes in the lab dir, the dir itself.
no_netns() { ! ip netns list | grep -q '^ztm-'; }
no_links() { ! ip -o link | grep -q ': ztm-'; }
no_processes() {  # nothing runs from the lab dir (PostgreSQL backends: their cwd is the data dir)
  local p
  for p in /proc/[0-9]*; do
    grep -qF "$dir" "$p/cmdline" 2>/dev/null && return 1
    [[ "$(readlink "$p/cwd" 2>/dev/null)" == "$dir"* ]] && return 1
  done
  return 0
}
no_cgroups() { ! compgen -G '/sys/fs/cgroup/*/ztm-lab' >/dev/null; }
app_password() { cat "$dir/secrets/postgres-app"; }  # the web tier's PostgreSQL password
john_token() {  # john_token BASE_URL: the session token of the demo user John Smith (user 12)
  curl -sf -m 5 -X POST -H 'Content-Type: application/json' \
    -d '{"email":"john.smith@example.com","password":"john-demo-password"}' "$1/sessions" | jq -r .token
}
upload_photo() {  # upload_photo BASE_URL TOKEN WIDTHxHEIGHT: a new JPEG of user 12; prints its id
  convert -seed 1 -size "$3" plasma:fractal "$work/photo.jpg" &&
    curl -s -m 10 -X POST -H "Authorization: Bearer $2" -H 'Content-Type: image/jpeg' \
      --data-binary @"$work/photo.jpg" "$1/users/12/photos" | jq -r .id
}
nothing_left() {  # nothing_left WHEN: one check per kind of leftover
  check "$1: no ztm-* namespace" no_netns
  check "$1: no ztm-lab cgroup" no_cgroups
  check "$1: no ztm-* link" no_links
  check "$1: no process of the lab" no_processes
  check "$1: lab dir removed" test ! -e "$dir"
}
# users_of ENGINE: the users the lab's ENGINE processes (web1/ztm, lb1/haproxy: the part after
# the slash) run as, sorted and unique, space-separated ("" when none runs). Uses $ztm.
users_of() {
  local pid
  for pid in $("$ztm" lab status --json --dir "$dir" |
    jq -r --arg e "$1" '.hosts[].processes[] | select((.name | split("/")[1]) == $e) | .pid'); do
    ps -o user= -p "$pid"
  done | sort -u | tr '\n' ' ' | sed 's/ $//'
}
# redis-cli as the lab's read-only `monitor` user (deploy/redis/*.conf, docs/security.md "Redis"):
# its password is the lab's secret, passed in the environment, not on the command line.
rcli() { REDISCLI_AUTH=$(cat "$dir/secrets/redis-monitor") redis-cli --user monitor --no-auth-warning "$@"; }
# redis-cli as the service's user (`ztm`), which the web servers log in as.
rcli_service() { REDISCLI_AUTH=$(cat "$dir/secrets/redis-app") redis-cli --user ztm --no-auth-warning "$@"; }
# redis_locked_down HOST ENGINE PORT CONFIG: the Redis (engine redis) or Sentinel (sentinel) of
# HOST lets no client in without credentials, runs as user redis, and keeps its config file (it
# holds passwords) 0600 and redis's. Three checks; uses status_json (lab_load.sh).
redis_locked_down() {
  local host=$1 engine=$2 port=$3 config=$4 address pid
  address=$(status_json | jq -r --arg h "$host" '.hosts[] | select(.name == $h) | .address')
  pid=$(status_json | jq -r --arg n "$host/$engine" '.hosts[].processes[] | select(.name == $n) | .pid')
  check "$host/$engine: a client without credentials is refused (NOAUTH)" \
    contains "$(redis-cli -h "$address" -p "$port" PING 2>&1)" "NOAUTH"
  check "$host/$engine: runs as user redis (pid $pid)" test "$(ps -o user= -p "$pid")" = redis
  check "$host/$engine: $config is 0600 and redis's" \
    test "$(stat -c '%a %U' "$dir/hosts/$host/$engine/$config")" = "600 redis"
}
