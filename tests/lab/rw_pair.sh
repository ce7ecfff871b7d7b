# A writer/reader pair through the web tier, to check a staleness bound (issue 17). Sourced by
# lab_replication_test.sh.
#
# The writer replaces one user again and again (PUT, lastName "V<n>", n = 1, 2, ...), one request
# at a time, and records each acknowledged n with the time the acknowledgement arrived. Writes
# are sequential, so an acknowledged n means every n' < n is committed too. The reader reads the
# same user anonymously (no session, no position: the plain read any visitor makes) and records
# when each read was issued and the n it saw. A read issued more than BOUND ms after the
# acknowledgement of n that returns an older n' is a violation: the read path (replica routing
# and the web server's L1 copy) was staler than it promises.
#
# rw_start URL USER_ID TOKEN DIR: starts both loops (background; each stops by itself after
#   300 s or 30000 requests, or when DIR/stop exists or DIR is gone).
# rw_stop DIR: stops them and waits.
# rw_check DIR BOUND_MS FROM_MS TO_MS: prints "violations reads failed_reads max_stale_ms" for
#   the reads issued in [FROM_MS, TO_MS) (epoch ms), where max_stale_ms is the longest any read
#   returned a version older than one already acknowledged.
#
# And the creates a primary is killed under:
# create_writer URL TOKEN FILE PREFIX keyed|plain [COUNT]: up to COUNT (300) creates (90 s at
#   most, or until FILE's directory is gone), one at a time, each sent once (with Idempotency-Key PREFIX-i when keyed); a line per request:
#   "end_ms name id code seconds".
# quantile_ms FILE Q: the Q-quantile (0..1) of those seconds, in ms.

user_body() { echo "{\"firstName\":\"$1\",\"lastName\":\"$2\",\"address\":{\"streetAddress\":\"1 Main\",\"city\":\"X\",\"state\":\"Y\",\"postalCode\":1}}"; }
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

rw_writer() {
  local url=$1 id=$2 token=$3 dir=$4 n=0 code deadline=$((SECONDS + 300)) body
  while [ -d "$dir" ] && [ ! -e "$dir/stop" ] && [ "$SECONDS" -lt "$deadline" ] && [ "$n" -lt 30000 ]; do
    n=$((n + 1))
    body=$(user_body Pair "V$n")
    code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
      -H "Authorization: Bearer $token" -d "$body" "$url/users/$id")
    if [ "$code" = 200 ]; then echo "$(now_ms) $n" >> "$dir/writes"; else echo "$(now_ms) $n $code" >> "$dir/write-failures"; fi
  done
}

rw_reader() {
  local url=$1 id=$2 dir=$3 i=0 issued out deadline=$((SECONDS + 300))
  while [ -d "$dir" ] && [ ! -e "$dir/stop" ] && [ "$SECONDS" -lt "$deadline" ] && [ "$i" -lt 30000 ]; do
    i=$((i + 1))
    issued=$(now_ms)
    out=$(curl -s -m 30 -w ' %{http_code}' "$url/users/$id")
    case "$out" in
      *' 200') echo "$issued $(echo "$out" | sed -n 's/.*"lastName":"V\([0-9]*\)".*/\1/p')" >> "$dir/reads" ;;
      *) echo "$issued - ${out##* }" >> "$dir/reads" ;;
    esac
  done
}

rw_start() {
  local url=$1 id=$2 token=$3 dir=$4
  mkdir -p "$dir"; rm -f "$dir/stop"; : > "$dir/writes"; : > "$dir/reads"; : > "$dir/write-failures"
  rw_writer "$url" "$id" "$token" "$dir" & rw_writer_pid=$!
  rw_reader "$url" "$id" "$dir" & rw_reader_pid=$!
}

rw_stop() {
  touch "$1/stop"
  wait "$rw_writer_pid" "$rw_reader_pid"
}

rw_check() {
  local dir=$1 bound=$2 from=$3 to=$4
  # writes first (marked W), then reads (R), merged by time. For each read: the newest n
  # acknowledged at least `bound` ms before it must be <= what it saw; its staleness is the age
  # of the oldest acknowledgement newer than what it saw.
  awk -v bound="$bound" -v from="$from" -v to="$to" -v writes="$dir/writes" '
    FILENAME == writes { at[$2] = $1; if ($2 > last) last = $2; next }
    {
      if ($1 < from || $1 >= to) next
      reads++
      if ($2 == "-") { failed++; next }
      seen = $2 + 0
      # Acknowledgements are in order of n (one writer, one request at a time).
      for (n = seen + 1; n <= last; n++) if (n in at) break
      if (n <= last && (n in at) && at[n] <= $1) {
        stale = $1 - at[n]
        if (stale > max) max = stale
        if (stale > bound) violations++
      }
    }
    END { printf "%d %d %d %d\n", violations, reads, failed, max }' "$dir/writes" "$dir/reads"
}

create_writer() {
  local url=$1 token=$2 file=$3 prefix=$4 keyed=$5 count=${6:-300} deadline=$((SECONDS + 90)) i out key=() body id
  body=$(mktemp)
  for ((i = 0; i < count && SECONDS < deadline; i++)); do
    [ -d "$(dirname "$file")" ] || break
    [ "$keyed" = keyed ] && key=(-H "Idempotency-Key: $prefix-$i")
    out=$(curl -s -m 30 -o "$body" -w '%{http_code} %{time_total}' -X POST \
      -H 'Content-Type: application/json' -H "Authorization: Bearer $token" "${key[@]}" \
      -d "$(user_body "$prefix" "$prefix-$i")" "$url/users")
    id=$(jq -r '.id // "-"' "$body" 2>/dev/null)
    echo "$(now_ms) $prefix-$i ${id:--} $out" >> "$file"
  done
  rm -f "$body"
}

quantile_ms() {
  awk '{ print $5 }' "$1" | sort -n | awk -v q="$2" '{ v[NR] = $1 }
    END { i = int(NR * q) + 1; if (i > NR) i = NR; printf "%d", v[i] * 1000 }'
}
