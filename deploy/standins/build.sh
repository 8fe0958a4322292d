#!/usr/bin/env bash
# Builds, without a registry, the images docker-compose.yml would pull, and keeps them between
# runs on the same machine (an image is rebuilt only when its files here change):
#   authd-standin/debian:bookworm     debootstrap's minbase Debian, imported (the base of the rest)
#   authd-standin/rust:1.95           + this machine's Rust toolchain: deploy/Dockerfile's builder
#   authd-standin/postgres:15         Debian's PostgreSQL, with the official image's variables
#   authd-standin/redis:7             Debian's Redis
#   authd-standin/nginx:1             Debian's nginx
#   authd-standin/mailpit:1           a mail catcher on Debian's Python and aiosmtpd
# deploy/compose.standins.yml points docker-compose.yml at them. Needs a running engine and
# debootstrap (deploy/compose-test.sh installs both).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base=authd-standin/debian:bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

image_hash() { docker image inspect --format '{{ index .Config.Labels "authd.standin.hash" }}' "$1" 2>/dev/null || true; }

build_base() {
  if docker image inspect "$base" >/dev/null 2>&1; then return; fi
  echo "--> $base (debootstrap --variant=minbase bookworm)"
  local rootfs
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
  # What Debian's own container images set: no daemons started by package scripts, no
  # recommended packages, no documentation.
  printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
  chmod +x "$rootfs/usr/sbin/policy-rc.d"
  echo 'APT::Install-Recommends "false";' > "$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
  printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
    > "$rootfs/etc/dpkg/dpkg.cfg.d/docker-excludes"
  # HTTPS leaves these machines through an intercepting proxy: images trust what the host trusts
  # (ca-certificates, once installed in an image, picks these up), or cargo cannot reach crates.io.
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
}

# The hash an image of deploy/standins/<name> is labelled with: its files, and what else it takes in.
standin_hash() {
  (cd "$here/$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum; echo "${2:-}") | sha256sum | cut -c1-16
}

# build_standin <name> <tag> <context dir> <hash>
build_standin() {
  echo "--> $2"
  docker build -q --build-arg "BASE_IMAGE=$base" --label "authd.standin.hash=$4" -t "$2" "$3" >/dev/null
}

build_base
for standin in postgres:15 redis:7 nginx:1 mailpit:1; do
  name=${standin%%:*}
  hash=$(standin_hash "$name")
  if [ "$(image_hash "authd-standin/$standin")" != "$hash" ]; then
    build_standin "$name" "authd-standin/$standin" "$here/$name" "$hash"
  fi
done

# The builder: the toolchain rustup installed here (nothing can be downloaded), its docs left out.
rust_version=$(rustc --version)
hash=$(standin_hash rust "$rust_version")
if [ "$(image_hash authd-standin/rust:1.95)" != "$hash" ]; then
  toolchain=$(rustc --print sysroot)
  context=$(mktemp -d)
  trap 'rm -rf "$context"' EXIT
  cp "$here/rust/Dockerfile" "$context/"
  mkdir "$context/toolchain"
  for part in bin lib libexec; do
    # Hard links where the file system allows: the toolchain is 600 MB.
    cp -al "$toolchain/$part" "$context/toolchain/" 2>/dev/null || cp -a "$toolchain/$part" "$context/toolchain/"
  done
  build_standin rust authd-standin/rust:1.95 "$context" "$hash"
fi
