# Debian root filesystems and the project's Debian base image, made without a registry.
# Source it after scripts/lib/gobuild.sh and make_workdir. Root filesystems come from
# `debootstrap --variant=minbase` (Debian's mirror is the only network used) and are cached as
# tarballs under $EPPCONF_CACHE/rootfs, named by suite and package list.

DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# The base of the project's images: iptables for kube-proxy, python3 for eppconf's own images.
DEBIAN_IMAGE_PACKAGES=(iptables nftables conntrack ca-certificates python3 python3-venv)
# The image made from it; eppconf.kind.BASE_IMAGE names it too.
DEBIAN_IMAGE="eppconf.local/debian:$DEBIAN_SUITE"

rootfs_tar() {  # name, packages: the cached tarball of a minbase root filesystem with them
  echo "$EPPCONF_CACHE/rootfs/$DEBIAN_SUITE-$1-$(echo "${@:2}" | sha256sum | cut -c1-12).tar"
}

debootstrap_tar() {  # name, packages: write rootfs_tar
  local tar dir="$WORKDIR/debootstrap-$1" packages="${*:2}"
  tar="$(rootfs_tar "$@")"
  debootstrap --variant=minbase --include="${packages// /,}" "$DEBIAN_SUITE" "$dir" "$DEBIAN_MIRROR" \
    >"$WORKDIR/debootstrap-$1.log" 2>&1
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  mkdir -p "$(dirname "$tar")"
  tar -C "$dir" --numeric-owner -cf "$tar.partial" .
  mv "$tar.partial" "$tar"
  rm -rf "$dir"
}

ROOTFS_JOBS=()
start_rootfs() {  # name, packages: debootstrap in the background unless cached
  [[ -f "$(rootfs_tar "$@")" ]] && return
  command -v debootstrap >/dev/null || apt_install debootstrap
  step "debootstrap $DEBIAN_SUITE ($1) in the background"
  debootstrap_tar "$@" &
  ROOTFS_JOBS+=("$!:$1")
}

wait_rootfs() {  # wait for every start_rootfs
  local job
  for job in "${ROOTFS_JOBS[@]}"; do
    with_progress "debootstrap ${job#*:}" tail --pid="${job%%:*}" -f /dev/null
    wait "${job%%:*}" || {
      step "debootstrap ${job#*:} failed:"; tail -n 20 "$WORKDIR/debootstrap-${job#*:}.log" >&2; exit 1
    }
  done
  ROOTFS_JOBS=()
}

# Import DEBIAN_IMAGE from its root filesystem unless Docker holds that very import already.
ensure_debian_image() {
  local tar
  tar="$(rootfs_tar image "${DEBIAN_IMAGE_PACKAGES[@]}")"
  [[ "$(docker image inspect --format '{{ index .Config.Labels "eppconf.rootfs" }}' "$DEBIAN_IMAGE" 2>/dev/null)" \
    == "$(basename "$tar")" ]] && return
  wait_rootfs  # one of them may be making this very root filesystem
  start_rootfs image "${DEBIAN_IMAGE_PACKAGES[@]}"
  wait_rootfs
  step "importing $tar as $DEBIAN_IMAGE"
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL eppconf.rootfs=$(basename "$tar")" "$tar" "$DEBIAN_IMAGE" >/dev/null
}
