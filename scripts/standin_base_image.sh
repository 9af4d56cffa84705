#!/usr/bin/env bash
# Make sure the stack's base images exist in the local Docker engine: `python:3.11-slim`
# (both services) and the `prom/prometheus` tag of observability/prometheus/Dockerfile's
# FROM line (the `observability` compose profile). No-op when both are already there;
# otherwise tries `docker pull` for each missing one, and only when that fails (no
# registry reachable, e.g. an offline mirror or CI sandbox) builds a stand-in with
# debootstrap (Debian bookworm, minbase) and tags it with the image's name:
#   python:3.11-slim   python3, venv, pip, ca-certificates. The machine's CA bundle is
#                      copied in and set as PIP_CERT, so `pip install` inside
#                      `docker build` trusts the same TLS roots as the host.
#   prom/prometheus    Debian's `prometheus` package (2.42, the same major version; its
#                      web UI is the classic one), with the official image's entrypoint,
#                      command, user (nobody), port, volume and working folder.
# Needs root and debootstrap (about a minute per stand-in).
# Usage: scripts/standin_base_image.sh
#   STANDIN_MIRROR        Debian mirror for debootstrap (default: debootstrap's own)
#   STANDIN_CA_BUNDLE     CA bundle copied in (default /etc/ssl/certs/ca-certificates.crt)
#   STANDIN_PULL_TIMEOUT  seconds allowed for each `docker pull` (default 120)
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
suite=bookworm # Debian 12 ships Python 3.11
mirror=${STANDIN_MIRROR:-}
ca_bundle=${STANDIN_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
nobody=65534 # uid of `nobody` and gid of `nogroup` in Debian

python_image=python:3.11-slim
# The tag is read from the Dockerfile that uses it, so a version bump there is all it takes.
prometheus_dockerfile=$repo_root/observability/prometheus/Dockerfile
prometheus_image=$(awk 'toupper($1) == "FROM" { print $2; exit }' "$prometheus_dockerfile")
case "$prometheus_image" in
  prom/prometheus:?*) ;;
  *)
    echo "standin_base_image: no 'FROM prom/prometheus:<tag>' in $prometheus_dockerfile" >&2
    exit 1
    ;;
esac

rootfs_dirs=()
remove_rootfs_dirs() {
  if [ "${#rootfs_dirs[@]}" -gt 0 ]; then
    rm -rf "${rootfs_dirs[@]}"
  fi
}
trap remove_rootfs_dirs EXIT

# True when the image is in the engine, or could be pulled into it.
present_or_pulled() {
  local image=$1
  if docker image inspect "$image" >/dev/null 2>&1; then
    echo "standin_base_image: $image already present, nothing to do"
    return 0
  fi
  echo "standin_base_image: $image missing, trying docker pull"
  timeout "${STANDIN_PULL_TIMEOUT:-120}" docker pull "$image"
}

can_debootstrap() {
  if ! command -v debootstrap >/dev/null 2>&1; then
    echo "standin_base_image: debootstrap is not installed (apt-get install -y debootstrap)" >&2
    return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "standin_base_image: debootstrap needs root" >&2
    return 1
  fi
}

# A fresh minbase rootfs with the given packages (comma-separated), in $rootfs. Set here,
# not printed: in a $(...) subshell the folder would escape the clean-up list.
rootfs=""
debootstrap_rootfs() {
  rootfs=$(mktemp -d /tmp/standin-rootfs.XXXXXX)
  rootfs_dirs+=("$rootfs")
  # shellcheck disable=SC2086  # $mirror is optional and must vanish when empty
  debootstrap --variant=minbase --include="$1" "$suite" "$rootfs" $mirror
}

# Keep an image small: package lists and caches are not needed at run time.
drop_apt_caches() {
  rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/archives/*.deb
}

build_python_standin() {
  debootstrap_rootfs python3,python3-venv,python3-pip,ca-certificates
  rm -f "$rootfs"/usr/lib/python3.11/EXTERNALLY-MANAGED
  mkdir -p "$rootfs/usr/local/bin"
  ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
  ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
  if [ -f "$ca_bundle" ]; then
    install -D -m 0644 "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  fi
  drop_apt_caches "$rootfs"
  tar -C "$rootfs" --numeric-owner -c . | docker import \
    -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
    -c 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    -c 'CMD ["python3"]' \
    - "$python_image"
}

build_prometheus_standin() {
  debootstrap_rootfs prometheus
  # The storage folder, writable by the unprivileged user the server runs as.
  install -d -m 0755 -o "$nobody" -g "$nobody" "$rootfs/prometheus"
  drop_apt_caches "$rootfs"
  # moment-timezone's per-zone data (over 200 MB): the web UI loads only the bundled
  # moment-timezone-with-data.min.js. Docs, man pages and translations are not read either.
  rm -rf "$rootfs"/usr/share/javascript/moment-timezone/data \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  tar -C "$rootfs" --numeric-owner -c . | docker import \
    -c 'ENTRYPOINT ["/usr/bin/prometheus"]' \
    -c 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]' \
    -c 'USER nobody' \
    -c 'EXPOSE 9090' \
    -c 'VOLUME ["/prometheus"]' \
    -c 'WORKDIR /prometheus' \
    - "$prometheus_image"
}

ensure_image() {
  local image=$1 build=$2
  present_or_pulled "$image" && return 0
  echo "standin_base_image: cannot pull $image; building a stand-in with debootstrap"
  can_debootstrap
  "$build"
  echo "standin_base_image: tagged stand-in as $image"
}

ensure_image "$python_image" build_python_standin
ensure_image "$prometheus_image" build_prometheus_standin
