# The browser client (web/, docs/browser-client.md); sourced by scripts/run and scripts/test
# after scripts/lib/packages.sh.
# shellcheck shell=bash

# web_build [DIR]: builds DIR (default web) into DIR/dist. Installs Node.js and npm from Debian
# only when `node` or `npm` is missing (a machine with NodeSource's nodejs has npm inside that
# package: Debian's npm must not go over it); runs `npm ci` when node_modules is missing or
# older than package-lock.json; rebuilds only when a source is newer than dist/index.html.
web_build() {
  local dir=${1:-web}
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    install_packages nodejs npm
  fi
  # npm writes node_modules/.package-lock.json on every install: older than the lockfile (or
  # absent) means the packages are not what the lockfile says.
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
     [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "web: npm ci" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if [ -f "$dir/dist/index.html" ] &&
     [ -z "$(find "$dir/src" "$dir/index.html" "$dir/build.mjs" "$dir/tsconfig.json" \
              "$dir/package-lock.json" -newer "$dir/dist/index.html" -print -quit)" ]; then
    return 0
  fi
  (cd "$dir" && npm run --silent build)
}
