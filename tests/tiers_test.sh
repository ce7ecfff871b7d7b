#!/usr/bin/env bash
# The tier check can fail: on a copy of src/ and the tier table, an include from app/ into a
# storage backend (the breach docs/architecture.md names) makes scripts/check-tiers fail and name
# the file; the untouched copy passes.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/docs"
cp -r "$repo/src" "$work/src"
cp "$repo/docs/architecture.md" "$work/docs/"

"$repo/scripts/check-tiers" "$work" || { echo "FAIL: the clean tree breaks the tier rule"; exit 1; }

sed -i '1a #include "storage/sqlite/sqlite_store.h"' "$work/src/app/users.cc"
if out=$("$repo/scripts/check-tiers" "$work"); then
  echo "FAIL: app/ including a storage backend passed the check"; exit 1
fi
grep -q 'src/app/users.cc: includes "storage/sqlite/sqlite_store.h" (tier storage/sqlite), which tier app may not use' <<<"$out" ||
  { echo "FAIL: the breach was not named: $out"; exit 1; }

# A backend reaching into another backend fails too.
sed -i '1d' "$work/src/app/users.cc"
sed -i '1a #include "storage/postgres/pg_store.h"' "$work/src/media/postgres/pg_blob_store.cc"
if "$repo/scripts/check-tiers" "$work" >/dev/null; then
  echo "FAIL: media/postgres including storage/postgres passed the check"; exit 1
fi
echo "tiers: the check passes the tree and fails both planted breaches"
