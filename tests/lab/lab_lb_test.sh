#!/usr/bin/env bash
# Stage lb (figure 1-4) with a real HAProxy in front of three `ztm serve` (docs/lab.md): clients
# use only the LB's public address (HTTP and HTTPS); requests spread evenly; killing a server
# (SIGKILL) under load, a rolling restart under load and scaling 2 -> 4 -> 2 under load fail no
# request; the autoscaler adds servers under load and returns to its minimum after it.
# Every load is `ztm bench`, bounded in requests and time. Usage: lab_lb_test.sh PATH_TO_ZTM.
# Needs root; exits 77 (skipped) when it cannot run here.
set -uo pipefail
ztm=$1
. "$(dirname "$0")/../support/check.sh"
. "$(dirname "$0")/lab_common.sh"
. "$(dirname "$0")/lab_load.sh"
lab_setup lab_lb ip jq curl haproxy openssl

out=$("$ztm" lab up --stage lb --dir "$dir" 2>&1); status=$?
check "up lb exits 0" test "$status" -eq 0 || { echo "$out" >&2; echo "lab_lb: $passed passed, $failed failed"; exit 1; }
json=$("$ztm" lab status --json --dir "$dir")
url=$(jq -r .url <<<"$json")
check "clients' URL is the LB's public address" test "$url" = "http://10.77.0.10:80"
check "status: lb1 has the public address" test "$(jq -r '.hosts[] | select(.name == "lb1") | .public_address' <<<"$json")" = 10.77.0.10
check "three servers UP in the pool" until_ok 10 pool_up 3
check "GET /users/12 through the LB" contains "$(curl -sf -m 2 "$url/users/12")" '"firstName":"John"'
https=$(jq -r .https_url <<<"$json")
check "HTTPS ends at the LB with the lab's certificate" \
  contains "$(curl -sf -m 3 --cacert "$dir/hosts/lb1/haproxy/lb.crt" "$https/users/12")" '"firstName":"John"'
check "the web servers are on the private network only (no route to the public one)" \
  not ip netns exec ztm-web1 curl -sf -m 1 "$url/lb-health"
check "the LB does not expose /metrics to the internet" \
  test "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$url/metrics")" = 404
check "a browser asking for a page over HTTP is redirected to HTTPS (308)" \
  grep -qi "^location: https://10.77.0.10/users/12" <<<"$(curl -si -m 2 -H 'Accept: text/html' "$url/users/12")"
check "an API client over HTTP is not redirected" \
  test "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$url/users/12")" = 200
check "HTTPS responses carry HSTS" \
  grep -qi "^strict-transport-security: max-age=31536000" \
  <<<"$(curl -si -m 3 --cacert "$dir/hosts/lb1/haproxy/lb.crt" "$https/users/12")"
check "HAProxy runs as user haproxy (security.md, finding 9)" test "$(users_of haproxy)" = haproxy
check "the web servers run as user ztm, not root" test "$(users_of ztm)" = ztm
check "the LB's certificate with its private key is for root only (0600)" \
  test "$(stat -c '%a %U' "$dir/hosts/lb1/haproxy/lb.pem")" = "600 root"
check "a server's config (the lab's passwords) is for its user only (0600)" \
  test "$(stat -c '%a %U' "$dir/hosts/web1/ztm/ztm.toml")" = "600 ztm"
check "the LB names the server that answered (X-Ztm-Server)" \
  grep -qi "^X-Ztm-Server: web" <<<"$(curl -si -m 2 "$url/users/12")"

# --- d) even spread: round-robin, no stickiness --------------------------------------------------
before=$(served_by_metrics web1 web2 web3)
r=$(bench "$url/users/12" -n 3000 -c 6 -d 30)
check "spread: no failed request ($(jq -c .failed_by <<<"$r"))" test "$(jq .failed <<<"$r")" -eq 0
check "spread: all 3000 sent" test "$(jq .ok <<<"$r")" -eq 3000
check "spread: every server within 15% of the mean (by response header: $(jq -c .servers <<<"$r"))" \
  within_15_percent "$(jq '[.servers[]]' <<<"$r")"
after=$(served_by_metrics web1 web2 web3)
by_metrics=$(jq -n --argjson a "$after" --argjson b "$before" '[range(0; $a | length) | $a[.] - $b[.]]')
check "spread: every server within 15% of the mean (by its own /metrics: $(jq -c . <<<"$by_metrics"))" \
  within_15_percent "$by_metrics"
echo "lab_lb: spread $(jq -c .servers <<<"$r"), $(jq .rps <<<"$r") rps, p99 $(jq .p99_ms <<<"$r") ms"

# --- b) kill -9 a web server under load -----------------------------------------------------------
start_load "$url/users/12" --rate 300 -n 30000 -d 60
check "kill: load is flowing" until_ok 10 load_flowing
check "chaos kill web2 (SIGKILL)" "$ztm" lab chaos kill web2 --dir "$dir"
check "kill: HAProxy takes web2 out" until_ok 10 pool_status_is web2 DOWN
wait_load_requests 600
stop_load
check "kill: zero failed requests ($(jq -c '{ok, failed_by}' <<<"$r"))" no_failures "$r"
echo "lab_lb: kill -9 under load: $(jq -c '{ok, failed, rps}' <<<"$r")"
check "chaos start web2" "$ztm" lab chaos start web2 --dir "$dir"
check "web2 back in the pool" until_ok 10 pool_up 3

# --- c) rolling restart under load ----------------------------------------------------------------
start_load "$url/users/12" --rate 300 -n 60000 -d 120
check "restart: load is flowing" until_ok 10 load_flowing
pids_before=$(web_pids)
"$ztm" lab restart web --dir "$dir" >"$work/restart.out" 2>&1 &
restart_pid=$!
busy_restarting() { status_json | jq -e '.busy == "restart web"' >/dev/null; }
check "restart: status answers while it runs, and says so" until_ok 10 busy_restarting
check "restart: another change meanwhile is refused as busy" \
  contains "$("$ztm" lab scale web=3 --dir "$dir" 2>&1)" "busy: restart web in progress"
wait "$restart_pid"
restart_status=$?
check "ztm lab restart web ($(cat "$work/restart.out"))" test "$restart_status" -eq 0
stop_load
check "restart: every server has a new process" test "$(comm -12 <(tr ' ' '\n' <<<"$pids_before" | sort) <(tr ' ' '\n' <<<"$(web_pids)" | sort) | wc -l)" -eq 0
check "restart: zero failed requests ($(jq -c '{ok, failed_by}' <<<"$r"))" no_failures "$r"
check "restart: all three UP again" until_ok 5 pool_up 3
echo "lab_lb: rolling restart under load: $(jq -c '{ok, failed, rps, duration_s}' <<<"$r")"

# --- f) scale 2 -> 4 -> 2 under load --------------------------------------------------------------
check "scale web=2" "$ztm" lab scale web=2 --dir "$dir"
check "scale: two servers in the pool" until_ok 5 pool_up 2
start_load "$url/users/12" --rate 300 -n 60000 -d 120
check "scale: load is flowing" until_ok 10 load_flowing
check "scale web=4 under load" "$ztm" lab scale web=4 --dir "$dir"
check "scale: four servers UP" until_ok 5 pool_up 4
check "scale: web4 has its own namespace" test -e /run/netns/ztm-web4
wait_load_requests 300  # the new servers take a share
check "scale web=2 under load" "$ztm" lab scale web=2 --dir "$dir"
stop_load
check "scale: zero failed requests ($(jq -c '{ok, failed_by}' <<<"$r"))" no_failures "$r"
check "scale: web3 and web4 served under load ($(jq -c .servers <<<"$r"))" \
  test "$(jq '(.servers.web3 // 0) > 0 and (.servers.web4 // 0) > 0' <<<"$r")" = true
check "scale: two servers left" until_ok 5 pool_up 2
check "scale: web4's namespace removed" test ! -e /run/netns/ztm-web4
echo "lab_lb: scale 2->4->2 under load: $(jq -c '{ok, failed, servers}' <<<"$r")"

# --- g) autoscale up under load, back to min after ------------------------------------------------
check "autoscale on" "$ztm" lab autoscale --min 2 --max 4 --up-rps 100 --down-rps 20 --dir "$dir" >/dev/null
start_load "$url/users/12" --rate 500 -n 40000 -d 80
t0=$SECONDS
check "autoscale: adds servers under load (> 100 rps per server)" until_ok 40 web_count_at_least 3
up_s=$((SECONDS - t0))
stop_load
check "autoscale: zero failed requests while scaling up ($(jq -c '{ok, failed_by}' <<<"$r"))" no_failures "$r"
t0=$SECONDS
check "autoscale: back to min 2 when the load stops" until_ok 40 web_count_is 2
echo "lab_lb: autoscale: 3 servers ${up_s} s after 500 rps started, back to 2 $((SECONDS - t0)) s after it stopped"
decisions=$("$ztm" lab status --json --dir "$dir" | jq -c '[.autoscale.decisions[].action]')
check "autoscale: decisions in status ($decisions)" contains "$decisions" "autoscale web 2 -> 3"
check "autoscale: the table shows them" contains "$("$ztm" lab status --dir "$dir")" "autoscale: on"
check "autoscale off" "$ztm" lab autoscale --off --dir "$dir" >/dev/null

out=$("$ztm" lab down --dir "$dir" 2>&1)
check "down exits 0" test $? -eq 0
check "down removed the public bridge" not ip link show ztm-public
nothing_left "down"
echo "lab_lb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
