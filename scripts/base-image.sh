#!/usr/bin/env bash
# Builds a Python 3.10 base image from Debian packages alone, for machines that cannot pull
# python:3.10-slim (no Docker Hub): `make image BASE_IMAGE=image-pipeline-base:bookworm-py3.10`
# (make image does this by itself when the default base cannot be pulled).
#
# Debian bookworm (debootstrap, minbase) gives the system and the shared libraries CPython's
# modules link to. Bookworm ships Python 3.11 only, and TFX 1.16 needs 3.9-3.10, so the
# interpreter is this machine's own Python 3.10 build (the one .venv is made from), copied
# to /usr/local as python:3.10-slim lays it out, without its site-packages; pip comes from
# its bundled ensurepip wheel. The host's CA bundle is not copied: the image has Debian's
# ca-certificates only.
#
# Usage: scripts/base-image.sh [TAG]      (root; needs debootstrap and a running dockerd)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/docker-engine.sh

tag=${1:-image-pipeline-base:bookworm-py3.10}
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What CPython's extension modules link to, and what a container on a cluster needs.
packages=ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,zlib1g,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libgdbm6,libuuid1,libexpat1

python=$(scripts/find-python.sh)
prefix=$("$python" -c 'import sys; print(sys.base_prefix)')
command -v debootstrap >/dev/null || install_debian_packages debootstrap

root=$(mktemp -d /tmp/image-pipeline-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "base image: debootstrap $suite into $root"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" \
  > "$root.log" 2>&1 || { tail -n 20 "$root.log" >&2; echo "error: debootstrap failed; log: $root.log" >&2; exit 1; }
rm -f "$root.log"

echo "base image: Python $("$python" -c 'import platform; print(platform.python_version())') from $prefix"
tar -C "$prefix" \
  --exclude='./lib/python3.10/site-packages/*' --exclude='./lib/python3.10/test' \
  --exclude='__pycache__' --exclude='./lib/python3.10/idlelib' \
  --exclude='./lib/python3.10/tkinter' --exclude='./lib/python3.10/lib-dynload/_tkinter*' \
  -cf - . | tar -C "$root/usr/local" -xf -
# Relocated: the build's own prefix is recorded where extensions are compiled from
# (sysconfig's INCLUDEPY, LIBDIR, the config Makefile, pkg-config files).
grep -rlF "${prefix%/}" "$root/usr/local/lib/python3.10" "$root/usr/local/lib/pkgconfig" \
  "$root/usr/local/bin" 2> /dev/null | while read -r file; do
  grep -qI . "$file" && sed -i "s#${prefix%/}#/usr/local#g" "$file"
done
chroot "$root" /sbin/ldconfig
chroot "$root" /usr/local/bin/python3.10 -m ensurepip --default-pip > /dev/null 2>&1
chroot "$root" /usr/local/bin/python3.10 -m pip --version > /dev/null
for name in python python3; do ln -sf python3.10 "$root/usr/local/bin/$name"; done
ln -sf pip3.10 "$root/usr/local/bin/pip"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*

tar -C "$root" -cf - . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' - "$tag" > /dev/null
echo "base image: $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}'))"
