#!/usr/bin/env bash
# Stage cdn (figure 1-11): two Varnish 7.1 edges (deploy/varnish/edge.vcl) in front of the queue
# stage's origin (lb1 -> web1..web3). From the client groups' own namespaces (clients1 nearer
# edge1, clients2 nearer edge2): both edges answer /.ztm/ping and name themselves; a second GET
# of a user is a hit with Age; authenticated requests are passed and never stored; a PUT through
# an edge invalidates the URL there; with lb1 killed the edge marks the origin sick within 2 s,
# serves what it holds past its TTL for the stale-if-error window (a short one, for this test)
# and 503 JSON for the rest, and is healthy again once lb1 is back; each edge's exporter serves
# varnish_main_cache_hit in valid Prometheus text. HTTPS at each edge, and the web tier's
# configuration of the edges, are checked too; /cdn.json prefers each group's own edge. Distance (7): each group connects to its own edge
# in under 10 ms and to the other edge and the origin in 35 ms or more (the lab's 40 ms delay);
# with the far edge's delay killed the far group cannot connect to it, and can once it is back.
# Usage: lab_cdn_test.sh PATH_TO_ZTM. Needs root; exits 77 (skipped) when it cannot run here.
set -uo pipefail
ztm=$1
. "$(dirname "$0")/../support/check.sh"
. "$(dirname "$0")/lab_common.sh"
. "$(dirname "$0")/lab_load.sh"
lab_setup lab_cdn ip jq curl haproxy redis-server nats-server varnishd varnishadm promtool psql iptables

lb=http://10.77.0.10
declare -A edge_url=([edge1]=http://10.77.0.21 [edge2]=http://10.77.0.22)
declare -A admin_url=([edge1]=http://10.77.1.81:6091 [edge2]=http://10.77.1.82:6091)
declare -A exporter_url=([edge1]=http://10.77.1.81:9131 [edge2]=http://10.77.1.82:9131)
declare -A group_of=([edge1]=clients1 [edge2]=clients2)

# fetch GROUP URL [CURL ARGS...]: one request from inside a client group's namespace; the
# response head in $work/head, the body in $work/body.
fetch() {
  local group=$1 url=$2
  shift 2
  : >"$work/head"
  : >"$work/body"
  ip netns exec "ztm-$group" curl -s -m 5 -D "$work/head" -o "$work/body" "$@" "$url"
}
header() {  # header NAME: its value in the last response head ("" when absent)
  tr -d '\r' <"$work/head" | awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$1"):" '
    tolower($1) == n { sub(/^[^:]*:[ \t]*/, ""); v = $0 } END { print v }'
}
verdict() {  # "STATUS X-Cache X-Cache-Reason" of the last response ("-": no reason)
  local reason
  reason=$(header X-Cache-Reason)
  echo "$(awk 'NR == 1 { print $2 }' "$work/head") $(header X-Cache) ${reason:--}"
}
is() {  # is WANT: the last response's verdict is WANT (says what it was otherwise)
  local got
  got=$(verdict)
  [ "$got" = "$1" ] || { echo "  got '$got', want '$1'" >&2; return 1; }
}
age_ok() { [[ "$(header Age)" =~ ^[0-9]+$ ]]; }
# edge_json EDGE: its /.ztm/edge on the admin listener (the operator's view, from the root
# namespace: the bridge's address is in the purgers ACL)
edge_json() { curl -s -m 2 "${admin_url[$1]}/.ztm/edge"; }
origin_healthy_at() { [ "$(edge_json "$1" | jq -r .origin_healthy 2>/dev/null)" = "$2" ]; }
# backend_is EDGE WORD: varnishadm in the edge's namespace says the origin is WORD (healthy, sick)
backend_is() {
  ip netns exec "ztm-$1" varnishadm -n "$dir/hosts/$1/varnish/instance" backend.list 2>/dev/null |
    awk -v w="$2" '/origin/ && $4 == w { found = 1 } END { exit !found }'
}
edges_healthy() {  # both edges' Varnish, exporter, TLS front and delay
  [ "$(status_json | jq '[.hosts[] | select(.roles | index("edge")) | .processes[] | select(.healthy)] | length')" = 8 ]
}
on_first_failure() {
  tail -n 20 "$dir/supervisor.log" "$dir"/hosts/edge*/varnish/varnish.log \
    "$dir"/hosts/edge*/varnish-exporter/exporter.log "$dir"/hosts/lb1/haproxy/haproxy.log >&2 2>/dev/null
}

# Short edge windows for this test only, so that a copy expires while lb1 is dead (the stage's
# own are the origin's defaults: a user for an hour): TTL 3 s, stale-while-revalidate 1 s,
# stale-if-error 6 s. The lab reads its templates from $ZTM_DEPLOY_DIR.
cp -r "$(dirname "$0")/../../deploy" "$work/deploy"
sed -i 's/^\[cdn\]$/[cdn]\nttl_s = 3\nstale_while_revalidate_s = 1\nstale_if_error_s = 6/' \
  "$work/deploy/ztm/ztm-lb-cdn.toml"
export ZTM_DEPLOY_DIR=$work/deploy

started=$SECONDS
out=$("$ztm" lab up --stage cdn --dir "$dir" 2>&1); status=$?
check "up cdn exits 0" test "$status" -eq 0 ||
  { echo "$out" >&2; echo "lab_cdn: $passed passed, $failed failed"; exit 1; }
echo "lab_cdn: up in $((SECONDS - started)) s"
checks_started=$SECONDS

# --- 1. the edges: healthy, named, reachable from their client groups -----------------------------
check "1: both edges, their exporters, TLS fronts and delays healthy" edges_healthy
check "1: no edge process runs as root once started (security.md, finding 9)" test \
  "$(users_of varnish)|$(users_of varnish-exporter)|$(users_of tls)" = "varnish|varnish|haproxy"
check "1: an edge's TLS key is for root only" test \
  "$(stat -c '%a %U' "$dir/hosts/edge1/tls/tls.pem" "$dir/hosts/edge1/tls/tls.key" | sort -u)" = "600 root"
check "1: the web servers name the edges' HTTPS URLs and admin listeners" \
  contains "$(tr -d ' ' <"$dir/hosts/web1/ztm/ztm.toml")" \
  $'edges="edge1=https://10.77.0.21,edge2=https://10.77.0.22"\nedge_admins="edge1=http://10.77.1.81:6091,edge2=http://10.77.1.82:6091"'
check "1: GET /cdn.json at the origin lists the edges" \
  eval '[ "$(ip netns exec ztm-clients1 curl -s -m 5 "$lb/cdn.json" | jq -c "[.edges[].url]")" = "[\"https://10.77.0.21\",\"https://10.77.0.22\"]" ]'
# Request routing (docs/cdn.md): each group is sent to its own edge. The page (lb1's HTTPS page)
# fetches /cdn.json from its own origin; lb1 sets X-Forwarded-For to the client's address.
for e in edge1 edge2; do
  fetch "${group_of[$e]}" "https://10.77.0.10/cdn.json" --cacert "$dir/hosts/lb1/haproxy/lb.crt"
  check "1: ${group_of[$e]}: /cdn.json (HTTPS, as the page fetches it) prefers $e" \
    test "$(jq -r .preferred "$work/body" 2>/dev/null)" = "$e"
  check "1: ${group_of[$e]}: /cdn.json is private (it varies by client address)" \
    test "$(header Cache-Control)" = "private, max-age=60"
  fetch "${group_of[$e]}" "$lb/cdn.json"
  check "1: ${group_of[$e]}: /cdn.json over HTTP prefers $e too" \
    test "$(jq -r .preferred "$work/body" 2>/dev/null)" = "$e"
done
groups=$(status_json | jq -c '[.client_groups[] | [.name, .subnet, .nearer]]')
check "1: client groups in status" test "$groups" = \
  '[["clients1","10.77.0.32/27","edge1"],["clients2","10.77.0.64/27","edge2"]]'
for e in edge1 edge2; do
  fetch "${group_of[$e]}" "${edge_url[$e]}/.ztm/ping"
  check "1: $e: /.ztm/ping from ${group_of[$e]}" is "200 MISS -"
  check "1: $e: the ping names it" test "$(jq -r .edge "$work/body")" = "$e"
  check "1: $e: X-Served-By $e" test "$(header X-Served-By)" = "$e"
  fetch "${group_of[$e]}" "https://${edge_url[$e]#http://}/.ztm/ping" --cacert "$dir/hosts/$e/tls/tls.crt"
  check "1: $e: HTTPS (its certificate pinned): the same edge" \
    test "$(verdict) $(header X-Served-By)" = "200 MISS - $e"
  # The probe marks the origin healthy after its first good answer (at most 500 ms after lb1 is).
  check "1: $e: sees the origin healthy" until_ok 5 origin_healthy_at "$e" true
done
check "1: the private admin listener is not reachable from a client group" \
  not ip netns exec ztm-clients1 curl -s -m 1 "${admin_url[edge1]}/.ztm/edge"

# --- 2. the origin sets the edge's TTL: the second GET is a hit with Age -------------------------
fetch clients1 "${edge_url[edge1]}/users/12"
check "2: first GET /users/12 at edge1: a miss" is "200 MISS -"
etag0=$(header ETag)
check "2: the origin's answer has a strong ETag" eval '[[ "$etag0" =~ ^\".+\"$ ]]'
fetch clients1 "${edge_url[edge1]}/users/12"
check "2: second GET /users/12 at edge1: a hit (the origin's CDN-Cache-Control)" is "200 HIT -"
check "2: the hit has Age >= 0" age_ok
check "2: the hit keeps the ETag" test "$(header ETag)" = "$etag0"
check "2: CDN-Cache-Control and Surrogate-Key are not passed on" \
  test -z "$(header CDN-Cache-Control)$(header Surrogate-Key)"
fetch clients2 "${edge_url[edge2]}/users/12"
check "2: edge2 has its own cache: a miss there" is "200 MISS -"

# --- 3. authenticated requests are passed, never stored ------------------------------------------
login=$(ip netns exec ztm-clients1 curl -s -m 5 -D "$work/login.head" -X POST \
  -H 'Content-Type: application/json' \
  -d '{"email":"john.smith@example.com","password":"john-demo-password"}' "$lb/sessions")
token=$(jq -r .token <<<"$login")
cookie=$(tr -d '\r' <"$work/login.head" | sed -n 's/^[Ss]et-[Cc]ookie: \(ztm_session=[^;]*\).*/\1/p')
check "3: log in at the origin (lb1)" test -n "$token" -a "$token" != null -a -n "$cookie"
fetch clients1 "${edge_url[edge1]}/users/13" -H "Authorization: Bearer $token"
check "3: GET with Authorization: passed" is "200 MISS auth"
fetch clients1 "${edge_url[edge1]}/users/13"
check "3: the next anonymous GET is not a hit (nothing was stored)" is "200 MISS -"
fetch clients1 "${edge_url[edge1]}/users/14" -H "Cookie: theme=dark; $cookie"
check "3: GET with the session cookie: passed" is "200 MISS auth"
fetch clients1 "${edge_url[edge1]}/users/14"
check "3: the next anonymous GET is not a hit (nothing was stored)" is "200 MISS -"
fetch clients1 "${edge_url[edge1]}/me" -H "Authorization: Bearer $token"
check "3: GET /me with Authorization: the caller's answer, passed" is "200 MISS auth"
check "3: /me names the caller" test "$(jq -r .id "$work/body" 2>/dev/null)" = 12
fetch clients1 "${edge_url[edge1]}/me"
check "3: anonymous GET /me: the origin's 401, never the personal answer" is "401 MISS -"

# --- 4. an unsafe request through an edge invalidates the URL there -------------------------------
# A fresh hit, polled: past its 3 s the copy is served stale while Varnish refetches it in the
# background, which on a loaded machine can take longer than one more GET (seen in CI).
fresh_hit() { fetch clients1 "${edge_url[edge1]}/users/12" && [ "$(verdict)" = "200 HIT -" ]; }
check "4: /users/12 cached at edge1" until_ok 5 fresh_hit || echo "  last: $(verdict)" >&2
etag_before=$(header ETag)
city="Boston $RANDOM"
jq --arg c "$city" '.address.city = $c' "$work/body" >"$work/user.json"
fetch clients1 "${edge_url[edge1]}/users/12" -X PUT -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -H "If-Match: $etag_before" --data-binary @"$work/user.json"
check "4: PUT /users/12 through edge1 with If-Match: 200, passed" is "200 MISS method"
etag_put=$(header ETag)
check "4: the PUT's answer has a new ETag" test -n "$etag_put" -a "$etag_put" != "$etag_before"
fetch clients1 "${edge_url[edge1]}/users/12"
check "4: the next GET at edge1: a miss" is "200 MISS -"
check "4: ... with the new ETag" test "$(header ETag)" = "$etag_put"
check "4: ... and the new city" test "$(jq -r .address.city "$work/body")" = "$city"
fetch clients1 "${edge_url[edge1]}/users/12"
check "4: then a hit on the new version" is "200 HIT -"
check "4: ... with the new ETag" test "$(header ETag)" = "$etag_put"

# --- 4b. purge on write: a write through the origin reaches every edge's cache -----------------
# Both edges hold /users/12; a PUT at lb1 (never through an edge) commits a change, the web tier's
# relay puts its keys on each edge's purge queue and the purgers purge them: every edge then
# answers the new version, well within the 2 s lease.
for e in edge1 edge2; do
  fetch "${group_of[$e]}" "${edge_url[$e]}/users/12"
  fetch "${group_of[$e]}" "${edge_url[$e]}/users/12"
  check "4b: /users/12 cached at $e" is "200 HIT -"
done
check "4b: the edges are not fenced (the purge stream syncs them)" \
  test "$(edge_json edge1 | jq -r .fenced)/$(edge_json edge2 | jq -r .fenced)" = false/false
# Every web server's own cache (L1, 60 s) holds the old version from direct reads; only the one
# that takes the PUT forgets it. The edges' refetches must read past those copies
# (Ztm-Edge-Fetch), or an edge would store the old version again for its whole TTL.
for _ in 1 2 3 4 5 6; do ip netns exec ztm-clients1 curl -s -o /dev/null -m 5 "$lb/users/12"; done
jq --arg c "Salem $RANDOM" '.address.city = $c' "$work/body" >"$work/user.json"
put_at=$(date +%s%N)
etag_origin=$(ip netns exec ztm-clients1 curl -s -m 5 -D - -o /dev/null -X PUT \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -H "If-Match: $(header ETag)" \
  --data-binary @"$work/user.json" "$lb/users/12" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
check "4b: PUT /users/12 at the origin: a new ETag" test -n "$etag_origin" -a "$etag_origin" != "$etag_put"
fresh_everywhere() {
  local e
  for e in edge1 edge2; do
    fetch "${group_of[$e]}" "${edge_url[$e]}/users/12"
    [ "$(header ETag)" = "$etag_origin" ] || return 1
  done
}
until_ok_ms() {  # until_ok_ms MS COMMAND...: polls every 10 ms
  local deadline=$(($(date +%s%N) + $1 * 1000000))
  shift
  until "$@"; do
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.01
  done
}
check "4b: every edge serves the new version within 2 s" until_ok_ms 2000 fresh_everywhere
echo "  purge on write: every edge fresh $(( ($(date +%s%N) - put_at) / 1000000 )) ms after the PUT was sent"

# --- 4b'. the origin's own caches: an edge's fetch reads past them -----------------------------
# Every web server's L1 holds /users/12 (read from edge1's address); a write through lb1 lands on
# one of them, the other two keep the old version (L1 TTL 60 s). Asked from an edge's address (a
# trusted proxy) with Ztm-Edge-Fetch, every web server answers the new version (from the
# primary); without it, some answer their L1 copy. A client's Ztm-Edge-Fetch through lb1's
# public frontend is dropped.
web_etag() {  # web_etag N [curl args]: the ETag web N (10.77.1.9+N) answers edge1's GET with
  local n=$1
  shift
  ip netns exec ztm-edge1 curl -s -m 5 -D - -o /dev/null "$@" "http://10.77.1.$((9 + n)):8080/users/12" |
    tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p'
}
for n in 1 2 3; do web_etag "$n" >/dev/null; done
jq --arg c "Tyre $RANDOM" '.address.city = $c' "$work/body" >"$work/user.json"
current=$(web_etag 1 -H 'Ztm-Edge-Fetch: 1')  # a client read through lb1 may be an L1 copy
etag_new=$(ip netns exec ztm-clients1 curl -s -m 5 -D - -o /dev/null -X PUT \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -H "If-Match: $current" \
  --data-binary @"$work/user.json" "$lb/users/12" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
check "4b': PUT /users/12 at the origin" test -n "$etag_new"
plain="" edge_fetch=""
for n in 1 2 3; do
  plain+="$(web_etag "$n") "
  edge_fetch+="$(web_etag "$n" -H 'Ztm-Edge-Fetch: 1') "
done
check "4b': some web server's L1 still holds the old version (plain GETs: $plain)" \
  eval '[ "$plain" != "$etag_new $etag_new $etag_new " ]'
check "4b': with Ztm-Edge-Fetch from an edge, every web server answers the new one ($edge_fetch)" \
  test "$edge_fetch" = "$etag_new $etag_new $etag_new "
client_fetch=""
for _ in 1 2 3 4 5 6; do  # round-robin: each web server in turn
  fetch clients1 "$lb/users/12" -H 'Ztm-Edge-Fetch: 1'
  client_fetch+="$(header ETag) "
done
check "4b': a client's Ztm-Edge-Fetch through lb1 changes nothing ($client_fetch)" \
  eval '[ "$client_fetch" != "$(printf "%s " "$etag_new" "$etag_new" "$etag_new" "$etag_new" "$etag_new" "$etag_new")" ]'

# --- 4c. an edge cut off from the web tier: stale for at most the lease, then purged ------------
# edge2 is cut off from the web servers (ztm lab chaos cut: both ways) but keeps lb1: purges
# cannot reach it, its clients still can. A write at the origin is then served old by edge2 only
# until its purge lease lapses (2 s after its last sync, which is at most 250 ms before the
# write); after that it passes mutable reads to the origin (fenced). Healed, the purge that
# waited is delivered and the lease moves on, and nothing was lost on the way: the outbox is
# empty, both purge queues drain (ztm cdn status, from NATS), and edge2 confirmed purges again
# (ztm_cdn_purges_total{edge="edge2"} over the web servers rose after the heal).
for e in edge1 edge2; do
  fetch "${group_of[$e]}" "${edge_url[$e]}/users/12"
  fetch "${group_of[$e]}" "${edge_url[$e]}/users/12"
done
check "4c: /users/12 cached at edge2" is "200 HIT -"
cut_web() {  # cut_web cut|heal: edge2 <-> web1..web3 (ztm lab chaos)
  local n
  for n in 1 2 3; do "$ztm" lab chaos "$1" edge2 "web$n" --dir "$dir" >/dev/null || return 1; done
}
web_config=$(ls "$dir"/hosts/web1/*/ztm.toml | head -1)
db_url=$(sed -n 's/^postgres_url *= *"\(.*\)"$/\1/p' "$web_config")
purges_confirmed() {  # purges_confirmed EDGE: ztm_cdn_purges_total{edge=EDGE} summed over web1..3
  local n
  for n in 1 2 3; do
    ip netns exec ztm-lb1 curl -s -m 2 "http://10.77.1.$((9 + n)):8080/metrics" || return 1
  done | awk -v m="ztm_cdn_purges_total{edge=\"$1\"}" '$1 == m { sum += $2; n++ }
    END { if (n != 3) exit 1; printf "%d\n", sum }'
}
check "4c: ztm lab chaos cut edge2 web1..3" cut_web cut
purges_at_cut=$(purges_confirmed edge2)
check "4c: ... every web server counts edge2's confirmed purges ($purges_at_cut)" test -n "$purges_at_cut"
check "4c: ... edge2 cannot reach web1, web1 cannot reach edge2's admin listener" \
  eval '! ip netns exec ztm-edge2 curl -s -m 1 -o /dev/null http://10.77.1.10:8080/healthz &&
        ! ip netns exec ztm-web1 curl -s -m 1 -o /dev/null "${admin_url[edge2]}/.ztm/edge"'
check "4c: ... while lb1 still reaches both" \
  eval 'ip netns exec ztm-lb1 curl -sf -m 2 -o /dev/null http://10.77.1.10:8080/healthz &&
        ip netns exec ztm-lb1 curl -s -m 2 -o /dev/null "${admin_url[edge2]}/.ztm/edge"'
jq --arg c "Lowell $RANDOM" '.address.city = $c' "$work/body" >"$work/user.json"
etag_cut=$(ip netns exec ztm-clients1 curl -s -m 5 -D - -o /dev/null -X PUT \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -H "If-Match: $(header ETag)" \
  --data-binary @"$work/user.json" "$lb/users/12" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
put_at=$(date +%s%N)
check "4c: PUT /users/12 at the origin: a new ETag" test -n "$etag_cut" -a "$etag_cut" != "$etag_new"
: >"$work/edge2.log"
while [ $(( ($(date +%s%N) - put_at) / 1000000 )) -lt 3500 ]; do
  fetch clients2 "${edge_url[edge2]}/users/12"
  echo "$(( ($(date +%s%N) - put_at) / 1000000 )) $(header ETag) $(verdict)" >>"$work/edge2.log"
  sleep 0.05
done
check "4c: right after the write edge2 still served its copy (the cut held)" \
  awk -v old="$etag_new" 'NR == 1 && $2 == old { ok = 1 } END { exit !ok }' "$work/edge2.log"
check "4c: from 2.5 s after the write on, edge2 served only the new version, fenced" \
  awk -v new="$etag_cut" '$1 >= 2500 { n++; if ($2 != new || $5 != "fenced") bad = 1 }
    END { exit bad || n == 0 }' "$work/edge2.log"
fenced_from=$(awk '$5 == "fenced" { print $1; exit }' "$work/edge2.log")
admins="edge1=${admin_url[edge1]},edge2=${admin_url[edge2]}"
cdn_status=$("$ztm" cdn status --cdn.edge_admins "$admins" 2>&1); status=$?
check "4c: ztm cdn status exits 3 while an edge is fenced" test "$status" -eq 3
check "4c: ... and says which" eval 'grep -q "^edge2 .*FENCED" <<<"$cdn_status" && grep -q "^edge1 .*serving from cache" <<<"$cdn_status"'
echo "  edge cut off: old copy served until it fenced itself ${fenced_from:-?} ms after the write"
purges_before_heal=$(purges_confirmed edge2)
check "4c: ... no purge confirmed by edge2 while cut ($purges_at_cut, then $purges_before_heal)" \
  test -n "$purges_before_heal" -a "$purges_before_heal" = "$purges_at_cut"
check "4c: ztm lab chaos heal edge2 web1..3" cut_web heal
check "4c: ... edge2 reaches web1 again" ip netns exec ztm-edge2 curl -sf -m 2 -o /dev/null http://10.77.1.10:8080/healthz
not_fenced() { [ "$(edge_json edge2 | jq -r .fenced)" = false ]; }
check "4c: healed, edge2's purge stream catches up (not fenced) within 5 s" until_ok 5 not_fenced
# Until every purger's retry has landed (one may still be in its backoff, up to 1 s, after
# another's sync un-fenced the edge: docs/cdn.md, the bound's exception), a hit may be purged
# once more; every answer is the new version, and soon a hit.
: >"$work/healed.log"
hit_on_new_version() {
  fetch clients2 "${edge_url[edge2]}/users/12"
  echo "$(header ETag) $(verdict)" >>"$work/healed.log"
  [ "$(header ETag)" = "$etag_cut" ] && is "200 HIT -" 2>/dev/null
}
check "4c: and edge2 serves the new version from its cache again (within 3 s)" \
  until_ok 3 hit_on_new_version
check "4c: ... never the old one after healing" \
  awk -v new="$etag_cut" '$1 != new { bad = 1 } END { exit bad }' "$work/healed.log"
check "4c: ztm cdn status: every edge well again" "$ztm" cdn status --cdn.edge_admins "$admins"
# Nothing lost: the web tier's outbox holds no row (every change was relayed to the queues) ...
outbox_empty() { [ "$(psql "$db_url" -tAc 'SELECT count(*) FROM outbox' 2>/dev/null)" = 0 ]; }
check "4c: healed: the outbox is drained (no row waits)" until_ok 5 outbox_empty
# ... every edge's purge queue in NATS has nothing left unconfirmed (a sync or two may be in
# flight at any instant: polled until a look finds both at 0) ...
queues_drained() {
  "$ztm" cdn status --config "$web_config" >"$work/cdn-status-healed.out" 2>&1
  grep -q "^edge1 .*purge queue 0 pending" "$work/cdn-status-healed.out" &&
    grep -q "^edge2 .*purge queue 0 pending" "$work/cdn-status-healed.out"
}
check "4c: ... every edge's purge queue drained (ztm cdn status: purge queue 0 pending)" \
  until_ok 10 queues_drained || cat "$work/cdn-status-healed.out" >&2
echo "  after healing: $(grep -o 'purge queue [0-9]* pending' "$work/cdn-status-healed.out" | paste -sd, -)"
# ... and edge2 confirmed what waited (its confirmed purges rose after the heal).
purges_rose() { local n; n=$(purges_confirmed edge2) && [ "$n" -gt "$purges_before_heal" ]; }
check "4c: ... edge2's ztm_cdn_purges_total rose after healing (from $purges_before_heal)" \
  until_ok 5 purges_rose
echo "  edge2's confirmed purges: $purges_at_cut at the cut, $purges_before_heal before healing, $(purges_confirmed edge2) after"

# --- 4d. the operator's purge --------------------------------------------------------------------
check "4d: ztm cdn purge /users/12: every edge confirms" \
  "$ztm" cdn purge /users/12 --cdn.edge_admins "$admins"
for e in edge1 edge2; do
  fetch "${group_of[$e]}" "${edge_url[$e]}/users/12"
  check "4d: $e: the next GET is a miss" is "200 MISS -"
done
"$ztm" cdn purge /users/12 --cdn.edge_admins "edge1=${admin_url[edge1]},gone=http://10.77.1.99:6091" \
  >"$work/purge.out" 2>&1; status=$?
check "4d: an unreachable edge: exit 3, and named" \
  eval '[ "$status" -eq 3 ] && grep -q "^gone .*NOT purged" "$work/purge.out"'

# --- 5. the origin dies: sick within 2 s, copies served stale-if-error, then 503 JSON -----------
for e in edge1 edge2; do fetch "${group_of[$e]}" "${edge_url[$e]}/users/15"; done
fetched=$(date +%s%N)
fetch clients1 "${edge_url[edge1]}/users/15"
check "5: /users/15 cached at edge1" is "200 HIT -"
etag15=$(header ETag)
check "5: chaos kill lb1" "$ztm" lab chaos kill lb1 --dir "$dir"
killed=$(date +%s%N)
check "5: edge1 marks the origin sick within 2 s" until_ok 3 origin_healthy_at edge1 false
sick_ms=$((($(date +%s%N) - killed) / 1000000))
echo "lab_cdn: edge1 saw the origin sick ${sick_ms} ms after lb1 was killed"
check "5: ... (measured ${sick_ms} ms)" test "$sick_ms" -le 2000
check "5: edge2 too" until_ok 3 origin_healthy_at edge2 false
check "5: varnishadm backend.list in edge1's namespace: sick" backend_is edge1 sick
# The copy stays served, fresh and then past its TTL (3 s) as stale-if-error (6 s more), with
# no failed answer in between; polled every 50 ms.
stale_or_fresh() {
  fetch clients1 "${edge_url[edge1]}/users/15"
  case "$(verdict)" in
    "200 HIT -") return 1 ;;
    "200 HIT stale-if-error") [ "$(header ETag)" = "$etag15" ] ;;
    *) echo "  got '$(verdict)' before the stale-if-error window" >&2; bad_answers=$((bad_answers + 1)); return 1 ;;
  esac
}
bad_answers=0
check "5: edge1 serves the copy past its TTL: stale-if-error" until_ok 6 stale_or_fresh
check "5: ... every answer until then the copy" test "$bad_answers" -eq 0
# edge2 fetched its copy after edge1's (each fetch pays the edge's 40 ms to the origin: docs/lab.md
# "Distance"), so it turns stale a little later: fresh hits until then, then stale-if-error.
edge2_stale() {
  fetch clients2 "${edge_url[edge2]}/users/15"
  case "$(verdict)" in
    "200 HIT -") return 1 ;;
    "200 HIT stale-if-error") return 0 ;;
    *) echo "  got '$(verdict)' at edge2" >&2; bad_answers=$((bad_answers + 1)); return 1 ;;
  esac
}
check "5: edge2 serves its copy stale-if-error too" until_ok 2 edge2_stale
fetch clients1 "${edge_url[edge1]}/users/16"
check "5: a URL never cached: 503" is "503 MISS -"
check "5: ... with a JSON error body" \
  test "$(jq -r .error.code "$work/body" 2>/dev/null)" = origin_unavailable
# Past TTL + stale-if-error (3 + 6 s after the fetch) the copy is no longer served.
still_stale() {
  fetch clients1 "${edge_url[edge1]}/users/15"
  case "$(verdict)" in
    "200 HIT stale-if-error") return 1 ;;
    "503 MISS -") return 0 ;;
    *) echo "  got '$(verdict)' in the stale-if-error window" >&2; bad_answers=$((bad_answers + 1)); return 1 ;;
  esac
}
check "5: past the stale-if-error window: 503" until_ok 10 still_stale
window_ms=$((($(date +%s%N) - fetched) / 1000000))
echo "lab_cdn: /users/15 served until ${window_ms} ms after it was fetched (TTL 3 s + stale-if-error 6 s)"
check "5: ... the stale answers were the copy, the error JSON" \
  test "$bad_answers" -eq 0 -a "$(jq -r .error.code "$work/body" 2>/dev/null)" = origin_unavailable
check "5: ... at 9 s after the fetch, as CDN-Cache-Control said (-1 s; +3 s: polling on a busy machine)" \
  test "$window_ms" -ge 8000 -a "$window_ms" -le 12000
check "5: chaos start lb1" "$ztm" lab chaos start lb1 --dir "$dir"
back=$(date +%s%N)
check "5: edge1 sees the origin healthy again" until_ok 5 origin_healthy_at edge1 true
echo "lab_cdn: edge1 saw the origin healthy $((($(date +%s%N) - back) / 1000000)) ms after lb1 was healthy"
check "5: varnishadm backend.list in edge1's namespace: healthy" backend_is edge1 healthy
fetch clients1 "${edge_url[edge1]}/users/16"
check "5: the URL that failed is served again" is "200 MISS -"
fetch clients1 "${edge_url[edge1]}/users/15"
check "5: and the expired one, fetched again" is "200 MISS -"

# --- 6. the exporters: edge metrics in Prometheus text -------------------------------------------
declare -A hits_above=([edge1]=5 [edge2]=1)  # the HITs checked above at each edge
for e in edge1 edge2; do
  curl -s -m 5 "${exporter_url[$e]}/metrics" >"$work/$e.metrics"
  hits=$(awk '$1 == "varnish_main_cache_hit" { print $2 }' "$work/$e.metrics")
  check "6: $e: varnish_main_cache_hit counts the ${hits_above[$e]} hits above (got ${hits:-none})" \
    test "${hits:-0}" -ge "${hits_above[$e]}"
  check "6: $e: varnish_backend_up for the origin" grep -q '^varnish_backend_up{' "$work/$e.metrics"
  promtool check metrics <"$work/$e.metrics" >"$work/$e.promtool" 2>&1
  code=$?
  check "6: $e: promtool check metrics: no parse error (exit $code; 3 = lint only)" \
    test "$code" -eq 0 -o "$code" -eq 3
done
status_shows_edges() {  # the supervisor's view is refreshed once a second
  local table
  table=$("$ztm" lab status --dir "$dir")
  grep -q "^edge1 .*\[edge: origin healthy, hit ratio" <<<"$table" &&
    grep -q "^edge2 .*\[edge: origin healthy, hit ratio" <<<"$table"
}
check "6: lab status shows each edge's origin and hit ratio" until_ok 5 status_shows_edges
# The operator's view, from a web server's own configuration (cdn.edge_admins, cdn.edge_metrics).
"$ztm" cdn status --config "$web_config" >"$work/cdn-status.out" 2>&1; status=$?
check "6: ztm cdn status --config <web1's>: every edge well (exit $status)" test "$status" -eq 0
for e in edge1 edge2; do
  check "6: ... $e's hit ratio from its exporter" \
    grep -Eq "^$e .*hits [0-9.]+ % of [0-9]+ lookups" "$work/cdn-status.out"
done

# --- 7. distance: each group is near its edge, 40 ms from the other edge and the origin ---------
# connect_us GROUP URL: the fastest of 3 TCP connects (SYN -> SYN-ACK) from inside the group, in
# microseconds (999999999 when none succeeded: curl says 0 for a failed one).
connect_us() {
  local best=999999999 t
  for _ in 1 2 3; do
    t=$(ip netns exec "ztm-$1" curl -s -o /dev/null -m 3 -w '%{time_connect}' "$2") || continue
    t=$(awk '{ printf "%d", $1 * 1000000 }' <<<"$t")
    [ "$t" -lt "$best" ] && best=$t
  done
  echo "$best"
}
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
declare -A other=([edge1]=edge2 [edge2]=edge1)
for e in edge1 edge2; do
  g=${group_of[$e]}
  near=$(connect_us "$g" "${edge_url[$e]}/.ztm/ping")
  far=$(connect_us "$g" "${edge_url[${other[$e]}]}/.ztm/ping")
  origin=$(connect_us "$g" "$lb/healthz")
  echo "lab_cdn: from $g: connect to $e $(ms "$near") ms, to ${other[$e]} $(ms "$far") ms, to lb1 $(ms "$origin") ms"
  check "7: $g: its edge $e is near (connect $(ms "$near") ms < 10)" test "$near" -lt 10000
  check "7: $g: the other edge ${other[$e]} is far (connect $(ms "$far") ms >= 35)" \
    test "$far" -ge 35000 -a "$far" -lt 1000000
  check "7: $g: the origin lb1 is far (connect $(ms "$origin") ms >= 35)" \
    test "$origin" -ge 35000 -a "$origin" -lt 1000000
done
status_shows_delays() {  # the table: lb1 and each edge with their far links
  local table
  table=$("$ztm" lab status --dir "$dir")
  grep -Eq "^edge1 .*\[delay \+40 ms to 10.77.0.64/27,10.77.1.2/32, [0-9]+ dropped\]" <<<"$table" &&
    grep -Eq "^lb1 .*\[delay \+40 ms to 10.77.0.32/27,10.77.0.64/27, [0-9]+ dropped\]" <<<"$table"
}
check "7: lab status shows lb1's and edge1's delay" until_ok 5 status_shows_delays
# An edge's miss pays the origin's distance (edge -> lb1 is far), its hit does not.
first_byte_us() {
  ip netns exec ztm-clients1 curl -s -o /dev/null -m 3 -w '%{time_starttransfer}' "$1" |
    awk '{ printf "%d", $1 * 1000000 }'
}
miss=$(first_byte_us "${edge_url[edge1]}/users/20")
hit=$(first_byte_us "${edge_url[edge1]}/users/20")
echo "lab_cdn: clients1 at edge1, GET /users/20: miss $(ms "$miss") ms to the first byte, hit $(ms "$hit") ms"
check "7: a miss at edge1 waits for the far origin (first byte $(ms "$miss") ms >= 35)" \
  test "$miss" -ge 35000
check "7: the hit does not (first byte $(ms "$hit") ms < 10)" test "$hit" -gt 0 -a "$hit" -lt 10000
check "7: status shows edge1's far links" test \
  "$(status_json | jq -c '.hosts[] | select(.name == "edge1") | [.delay.ms, .delay.far]')" = \
  '[40,["10.77.0.64/27","10.77.1.2/32"]]'
# The delay program dies: far packets are dropped (no --queue-bypass), never sent undelayed.
check "7: chaos kill edge2/delay" "$ztm" lab chaos kill edge2/delay --dir "$dir"
check "7: status: edge2/delay exited, edge2's far links down" test \
  "$(status_json | jq -c '.hosts[] | select(.name == "edge2") | [(.processes[] | select(.name == "edge2/delay") | .state), .delay.down]')" = \
  '["exited",true]'
check "7: clients1 cannot connect to edge2 (its far link is cut, not undelayed)" \
  not ip netns exec ztm-clients1 curl -s -o /dev/null -m 2 "${edge_url[edge2]}/.ztm/ping"
fetch clients2 "${edge_url[edge2]}/.ztm/ping"
check "7: clients2 still reaches edge2 (near: not queued)" is "200 MISS -"
check "7: chaos start edge2/delay" "$ztm" lab chaos start edge2/delay --dir "$dir"
far=$(connect_us clients1 "${edge_url[edge2]}/.ztm/ping")
echo "lab_cdn: from clients1 to edge2 after the delay restarted: $(ms "$far") ms"
check "7: clients1 reaches edge2 again, 40 ms away (connect $(ms "$far") ms)" \
  test "$far" -ge 35000 -a "$far" -lt 1000000
check "7: edge2 sees the origin healthy again" until_ok 5 origin_healthy_at edge2 true
echo "lab_cdn: checks in $((SECONDS - checks_started)) s"

"$ztm" lab down --dir "$dir" >/dev/null 2>&1
nothing_left "after down"
echo "lab_cdn: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
