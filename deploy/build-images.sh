#!/usr/bin/env bash
# Builds the example images Berth's tests and examples run, offline (no registry is needed):
#   berth/busybox:latest  a root filesystem of Debian's static busybox and its applets (docker import)
#   berth/web:latest      FROM berth/busybox: busybox httpd on port 8080 serving a page with the
#                         container's hostname (sources in deploy/images/web/)
#   berth/peer:latest     FROM berth/busybox: a static TCP/UDP server on 9000 answering with the
#                         client's address and a PROXY v2 header's (deploy/images/peer/peer.c; gcc)
# Idempotent: an image that already exists is kept unless --force. Run as root.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) echo "usage: $0 [--force]"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

say() { echo "build-images: $*"; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

# After a forced rebuild, the previous image is left untagged: remove it unless something uses it.
drop_replaced() {
  local old="$1" image="$2"
  if [ -n "$old" ] && [ "$old" != "$(image_id "$image")" ]; then
    docker rmi "$old" >/dev/null 2>&1 && say "removed the replaced ${image} (${old:7:12})" || true
  fi
}

ensure_busybox_static() {
  if dpkg -s busybox-static >/dev/null 2>&1 && [ -x /bin/busybox ]; then
    return
  fi
  say "installing Debian's busybox-static"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq busybox-static >/dev/null
}

build_busybox() {
  local image=berth/busybox:latest
  if image_exists "$image" && [ "$force" = 0 ]; then
    say "$image exists, kept (use --force to rebuild)"
    return
  fi
  ensure_busybox_static
  local old root
  old="$(image_id "$image")"
  root="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$root'" RETURN
  mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/tmp" "$root/www" \
    "$root/root" "$root/proc" "$root/sys" "$root/dev" "$root/var/www"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  # One symlink per applet (sh, httpd, sleep, nc, wget, cat, echo, ...), all in /bin.
  local applet
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  cp "$here/images/busybox/passwd" "$root/etc/passwd"
  cp "$here/images/busybox/group" "$root/etc/group"
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/sh"]' \
    - "$image" >/dev/null
  say "built $image (docker import of busybox $(/bin/busybox | head -1 | awk '{print $2}'))"
  drop_replaced "$old" "$image"
}

build_web() {
  local image=berth/web:latest
  if image_exists "$image" && [ "$force" = 0 ]; then
    say "$image exists, kept (use --force to rebuild)"
    return
  fi
  local old
  old="$(image_id "$image")"
  # The classic builder needs no buildx plugin and no network.
  DOCKER_BUILDKIT=0 docker build -q -t "$image" "$here/images/web" >/dev/null 2>&1 ||
    DOCKER_BUILDKIT=0 docker build -t "$image" "$here/images/web"
  say "built $image (docker build of deploy/images/web)"
  drop_replaced "$old" "$image"
}

build_peer() {
  local image=berth/peer:latest
  if image_exists "$image" && [ "$force" = 0 ]; then
    say "$image exists, kept (use --force to rebuild)"
    return
  fi
  command -v gcc >/dev/null || { say "gcc is needed to build $image (apt-get install gcc libc6-dev)"; exit 1; }
  local old ctx
  old="$(image_id "$image")"
  ctx="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$ctx'" RETURN
  cp "$here/images/peer/Dockerfile" "$ctx/"
  gcc -O2 -static -o "$ctx/peer" "$here/images/peer/peer.c"
  DOCKER_BUILDKIT=0 docker build -q -t "$image" "$ctx" >/dev/null 2>&1 ||
    DOCKER_BUILDKIT=0 docker build -t "$image" "$ctx"
  say "built $image (static deploy/images/peer/peer.c)"
  drop_replaced "$old" "$image"
}

build_busybox
build_web
build_peer
