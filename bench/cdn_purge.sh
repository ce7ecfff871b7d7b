#!/usr/bin/env bash
# Purge latency of the CDN stage (issue 15's benchmark): brings up `ztm lab up --stage cdn`
# (real Varnish edges, NATS, PostgreSQL, three web servers behind HAProxy), then runs
# bench/cdn_purge.py from the client group clients1: N writes at the origin, each followed by
# polling both edges until they answer the new version. Target: p99 <= 150 ms. Root only.
# Usage: bench/cdn_purge.sh [writes=300] [user=12]
set -euo pipefail
cd "$(dirname "$0")/.."
writes=${1:-300}
user=${2:-12}
ztm=${ZTM:-build/ztm}
dir=$(mktemp -d /tmp/ztm-cdn-bench.XXXXXX)
trap '"$ztm" lab down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
"$ztm" lab up --stage cdn --dir "$dir" >/dev/null
ip netns exec ztm-clients1 python3 bench/cdn_purge.py 10.77.0.10:80 10.77.0.21:80,10.77.0.22:80 \
  "$writes" "$user"
