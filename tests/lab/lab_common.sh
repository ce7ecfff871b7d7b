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
