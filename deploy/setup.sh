#!/usr/bin/env bash
# Prepares this machine for Berth (Debian, run as root): the packages it needs, a running Docker
# Engine, the project's npm dependencies and build, and the example images. Idempotent: what is
# already there is kept. Used by quickstart.sh and test.sh.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { echo "setup: $*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (it installs packages and starts dockerd)" >&2
  exit 1
fi

# Debian packages: Docker Engine, etcd, busybox for the example images, a local registry for the
# pull tests, iproute2 for network namespaces and the cluster network's routes, util-linux for
# setpriv and nsenter, iptables for the cluster network's rules and service addresses, Prometheus
# for the metrics tests, htpasswd (apache2-utils) for the registry's authentication, Chromium for
# the dashboard's tests, wrk for the network benchmark, gcc and libc6-dev for the static test
# backend of the routing mesh's tests (deploy/images/peer).
need=()
for pkg in docker.io etcd-server busybox-static docker-registry iproute2 util-linux iptables prometheus apache2-utils chromium wrk gcc libc6-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The registry package starts a service on installation where it can; Berth does not need it.
# Start the Docker Engine if it does not answer.
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd (log: /var/log/berth-dockerd.log)"
  nohup dockerd >/var/log/berth-dockerd.log 2>&1 &
  echo $! >/run/berth-dockerd.pid
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see /var/log/berth-dockerd.log" >&2; exit 1; }
fi

cd "$repo"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "building"
npm run --silent build

"$repo/deploy/build-images.sh"
