#!/usr/bin/env bash
# Make sure the base image `python:3.11-slim` exists in the local Docker engine.
# No-op when the image is already there; otherwise tries `docker pull`, and only
# when that fails (no registry reachable, e.g. an offline mirror or CI sandbox)
# builds a stand-in with debootstrap (Debian bookworm, minbase + python3, venv,
# pip, ca-certificates) and tags it `python:3.11-slim`. The machine's CA bundle
# is copied in and set as PIP_CERT, so `pip install` inside `docker build`
# trusts the same TLS roots as the host. Needs root and debootstrap (~1 minute).
# Usage: scripts/standin_base_image.sh
#   STANDIN_MIRROR        Debian mirror for debootstrap (default: debootstrap's own)
#   STANDIN_CA_BUNDLE     CA bundle copied in (default /etc/ssl/certs/ca-certificates.crt)
#   STANDIN_PULL_TIMEOUT  seconds allowed for `docker pull` (default 120)
set -euo pipefail

image=python:3.11-slim
suite=bookworm # Debian 12 ships Python 3.11
mirror=${STANDIN_MIRROR:-}
ca_bundle=${STANDIN_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "standin_base_image: $image already present, nothing to do"
  exit 0
fi

echo "standin_base_image: $image missing, trying docker pull"
if timeout "${STANDIN_PULL_TIMEOUT:-120}" docker pull "$image"; then
  exit 0
fi

echo "standin_base_image: cannot pull $image; building a stand-in with debootstrap"
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "standin_base_image: debootstrap is not installed (apt-get install -y debootstrap)" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "standin_base_image: debootstrap needs root" >&2
  exit 1
fi

rootfs=$(mktemp -d /tmp/standin-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

# shellcheck disable=SC2086  # $mirror is optional and must vanish when empty
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
  "$suite" "$rootfs" $mirror

rm -f "$rootfs"/usr/lib/python3.11/EXTERNALLY-MANAGED
mkdir -p "$rootfs/usr/local/bin"
ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
if [ -f "$ca_bundle" ]; then
  install -D -m 0644 "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
fi
# Keep the image small: package lists and caches are not needed at run time.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb

tar -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
  -c 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  -c 'CMD ["python3"]' \
  - "$image"
echo "standin_base_image: tagged stand-in as $image"
