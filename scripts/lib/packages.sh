# Debian 12 packages, by purpose; sourced by scripts/run, scripts/test and bench scripts.
# shellcheck shell=bash
BUILD_PACKAGES="g++ cmake ninja-build ccache pkg-config libboost1.81-dev libboost-json1.81-dev
  libsqlite3-dev libpq-dev libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev libsodium-dev libhiredis-dev libvips-dev libnats-dev libnetfilter-queue-dev curl"
TEST_PACKAGES="clang-format clang libclang-rt-14-dev libgtest-dev libbenchmark-dev prometheus sqlite3 iproute2 jq postgresql-15 patroni etcd-server
  redis-server redis-sentinel redis-tools haproxy openssl nats-server imagemagick
  varnish varnish-modules prometheus-varnish-exporter chromium iptables
  prometheus-alertmanager prometheus-node-exporter prometheus-postgres-exporter prometheus-redis-exporter
  rsyslog rsyslog-relp"
BENCH_PACKAGES="nginx-light h2o wrk util-linux imagemagick linux-perf"

# install_packages PKG...: installs the ones that are missing (apt; sudo when not root).
install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
