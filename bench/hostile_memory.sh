#!/usr/bin/env bash
# Peak memory of `ztm serve` under the memory attacks of issue 13 (bench/hostile_memory.py):
# endless chunk-extension and trailer lines and anonymous 20 MiB uploads, N connections each, then
# READERS slow readers of a 10.8 MB blob. Prints one JSON line for docs/security.md.
# Usage: bench/hostile_memory.sh [N] [MIB] [READERS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
# shellcheck disable=SC2086
install_packages $BUILD_PACKAGES
build_release ztm
ztm=./build-release/ztm
$ztm seed --storage.sqlite_path "$work/ztm.db" >/dev/null
$ztm serve --storage.sqlite_path "$work/ztm.db" --sessions.sqlite_path "$work/sessions.db" \
  --media.dir "$work/media" --log.level error --http.port 18090 >/dev/null 2>&1 &
pids+=($!)
wait_for curl -sf http://127.0.0.1:18090/readyz
python3 bench/hostile_memory.py "${pids[0]}" 18090 "${1:-10}" "${2:-256}" "$work/media" "${3:-40}"
