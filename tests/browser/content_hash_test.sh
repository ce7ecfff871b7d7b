#!/usr/bin/env bash
# The client's asset names are content hashes (web/build.mjs), which is what makes serving
# /assets/* `immutable` for a year safe (docs/cdn.md): a rebuild of the same sources gives the
# same names, a changed stylesheet gives the stylesheet a new name (and index.html names it),
# and the files whose bytes did not change keep theirs. Builds a copy of web/ (its node_modules
# linked) twice; needs Node.js and `npm ci` done in web/ (scripts/lib/web.sh).
set -euo pipefail
. "$(dirname "$0")/../support/check.sh"
web=$(cd "$(dirname "$0")/../../web" && pwd)
work=$(mktemp -d /tmp/ztm-content-hash.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$web/src" "$web/index.html" "$web/dashboard.html" "$web/build.mjs" "$web/package.json" "$web/tsconfig.json" "$work/"
ln -s "$web/node_modules" "$work/node_modules"
build() { (cd "$work" && node build.mjs "$work/$1" >/dev/null) && ls "$work/$1/assets" | sort; }
name_of() { grep "^$1\." <<<"$2"; }

first=$(build out1)
again=$(build out2)
check "three hashed assets" test "$(wc -l <<<"$first")" -eq 3
check "the same sources build to the same names" test "$first" = "$again"
echo ".ztm-probe { color: #123456; }" >>"$work/src/styles.css"
changed=$(build out3)
check "a changed stylesheet gets a new name" \
  test "$(name_of style "$changed")" != "$(name_of style "$first")"
check "index.html names the new stylesheet" grep -q "$(name_of style "$changed")" "$work/out3/index.html"
check "the app's name stays (its bytes did not change)" \
  test "$(name_of app "$changed")" = "$(name_of app "$first")"
check "the boot module's name stays" test "$(name_of boot "$changed")" = "$(name_of boot "$first")"
echo "content_hash: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
