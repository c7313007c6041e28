#!/usr/bin/env bash
# Installs (when missing) and starts (when stopped) the services the test
# suite talks to: PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379, and
# Debian's headless Chromium for the browser tests. It also installs nginx
# and Caddy for the forward-auth tests, which start their own on free ports:
# those are never started as services.
set -euo pipefail

updated=0
apt_install() {
  if [ "$updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done
  echo "services: nothing listens on 127.0.0.1:$1" >&2
  return 1
}

# PostgreSQL
if ! port_open 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  wait_port 5432
fi
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" postgres | grep -q 1 ||
  psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" postgres >/dev/null

# Redis
if ! port_open 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_port 6379
fi

# Chromium for the browser tests
if ! [ -x /usr/bin/chromium ]; then
  apt_install chromium
fi

# axe-core for the accessibility checks of the browser tests: only the
# script of the npm package, unpacked where VALET_TEST_AXE names it (.ci/run
# and scripts/test.sh default to this path).
axe_version=4.11.0
axe_dir=/usr/local/share/valet-test/axe-core-$axe_version
if ! [ -f "$axe_dir/axe.min.js" ]; then
  command -v npm >/dev/null || apt_install npm
  axe_tmp=$(mktemp -d)
  (cd "$axe_tmp" && npm pack --silent "axe-core@$axe_version" >/dev/null)
  mkdir -p "$axe_dir"
  tar -xzf "$axe_tmp/axe-core-$axe_version.tgz" -C "$axe_dir" --strip-components=1 package/axe.min.js package/LICENSE
  rm -rf "$axe_tmp"
fi

# nginx and Caddy for the forward-auth tests (cmd/valet/e2e_proxy_test.go).
# Installed only; a policy-rc.d that answers 101 keeps the packages from
# starting their services on ports 80 and 443.
proxies=()
[ -x /usr/sbin/nginx ] || proxies+=(nginx-light)
[ -x /usr/bin/caddy ] || proxies+=(caddy)
if [ "${#proxies[@]}" -gt 0 ]; then
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    own_policy=1
  fi
  apt_install "${proxies[@]}"
  [ "$own_policy" = 0 ] || rm -f "$policy"
fi

# wrk, the load generator of valet bench --processes (cmd/valet/bench_test.go
# runs it both with wrk and with its own client).
command -v wrk >/dev/null || apt_install wrk

# oauth2-proxy for the relying-party test (cmd/valet/e2e_oauth2proxy_test.go),
# built from the Go module proxy outside valet's module, into the directory
# where the test looks (and which it fills itself when this did not run).
# The version is the test's oauth2ProxyVersion. About three minutes with
# empty Go caches (downloads included), a minute or so with a warm build
# cache; nothing when the binary is there.
o2p_version=v7.15.6
o2p_dir="${XDG_CACHE_HOME:-$HOME/.cache}/valet-test/oauth2-proxy-$o2p_version"
if ! [ -x "$o2p_dir/oauth2-proxy" ] && command -v go >/dev/null; then
  mkdir -p "$o2p_dir"
  o2p_tmp=$(mktemp -d "$o2p_dir/build-XXXXXX")
  (cd "$o2p_tmp" && GOBIN="$o2p_tmp" GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 \
    go install "github.com/oauth2-proxy/oauth2-proxy/v7@$o2p_version")
  mv "$o2p_tmp/oauth2-proxy" "$o2p_dir/oauth2-proxy"
  rm -rf "$o2p_tmp"
fi

echo "services: postgres, redis and chromium are ready; nginx, caddy, wrk, axe-core and oauth2-proxy are installed"
