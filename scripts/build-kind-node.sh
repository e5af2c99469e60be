#!/usr/bin/env bash
# Build a kind node image on this machine, from sources only: no container registry is used.
#
# Usage: scripts/build-kind-node.sh
# Prints the node image (eppconf.local/kind-node:$KUBERNETES_VERSION) on its last line, progress
# on stderr. Needs root, Go, Debian's apt and debootstrap (installed when missing) and Docker
# Engine (started through scripts/docker-engine.sh when not running).
#
# Pieces, each cached by version under $EPPCONF_CACHE/kind (EPPCONF_CACHE defaults to
# ~/.cache/eppconf), so a re-run only re-assembles what changed:
# - the kind CLI, built with Go (kind-$KIND_VERSION/kind);
# - Debian root filesystems from debootstrap (scripts/lib/debian.sh, cached under
#   $EPPCONF_CACHE/rootfs): one with the packages a kind node needs, and the project's Debian base
#   image, eppconf.local/debian:$DEBIAN_SUITE, on which the control-plane images are built;
# - containerd, runc, crictl and the CNI plugins, built with Go (runtime/);
# - kubelet, kubeadm, kubectl and the control-plane binaries of KUBERNETES_VERSION (the project's
#   one release, scripts/lib/gobuild.sh), CoreDNS and pause at the versions that kubeadm release
#   asks for, built from source; etcd from scripts/build-control-plane.sh.
# The node image holds kind's own files (from the sigs.k8s.io/kind module, images/base/files), a
# static bridge CNI configuration (the kind config disables kindnetd), containerd set to
# restrict_oom_score_adj (pod sandboxes cannot lower their OOM score on this kind of VM) and, in
# its containerd, every image `kubeadm config images list` names, so `kubeadm init` pulls nothing.
# The image carries a label with a hash of this recipe; a matching image is reused as it is.
set -euo pipefail
SCRIPT_NAME=build-kind-node
SCRIPTS="$(cd "$(dirname "$0")" && pwd)"
source "$SCRIPTS/lib/gobuild.sh"
source "$SCRIPTS/lib/debian.sh"

KIND_VERSION="${KIND_VERSION:-v0.33.0}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.3.4}"
RUNC_VERSION="${RUNC_VERSION:-v1.4.3}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.34.0}"
CNI_PLUGINS_VERSION="${CNI_PLUGINS_VERSION:-v1.9.1}"
NODE_PACKAGES=(systemd conntrack iptables nftables iproute2 ethtool util-linux mount kmod libseccomp2
  pigz fuse-overlayfs nfs-common open-iscsi e2fsprogs bash ca-certificates curl jq procps)
CNI_PLUGINS=(main/bridge main/loopback main/ptp ipam/host-local meta/portmap)
KUBERNETES_COMMANDS=(kubelet kubeadm kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
POD_SUBNET=10.244.0.0/24  # the first node's share of kind's default pod subnet, 10.244.0.0/16

KIND_CACHE="$EPPCONF_CACHE/kind"
NODE_IMAGE="eppconf.local/kind-node:$KUBERNETES_VERSION"
RECIPE="$( (cat "$0" "$SCRIPTS/lib/gobuild.sh" "$SCRIPTS/lib/debian.sh"; echo "$KUBERNETES_VERSION $KIND_VERSION \
$CONTAINERD_VERSION $RUNC_VERSION $CRICTL_VERSION $CNI_PLUGINS_VERSION $DEBIAN_SUITE") | sha256sum | cut -c1-16)"

# --- the host --------------------------------------------------------------------------------

ensure_host() {
  local missing=()
  [[ -f /usr/include/seccomp.h ]] || missing+=(libseccomp-dev)
  command -v gcc >/dev/null && [[ -f /usr/lib/x86_64-linux-gnu/libc.a ]] || missing+=(gcc libc6-dev)
  (( ${#missing[@]} == 0 )) || apt_install "${missing[@]}"
  bash "$SCRIPTS/docker-engine.sh" up
}

image_recipe() {  # image: its eppconf.recipe label, empty when the image is absent
  docker image inspect --format '{{ index .Config.Labels "eppconf.recipe" }}' "$1" 2>/dev/null || true
}

# --- Go builds -------------------------------------------------------------------------------

go_tool() {  # out file, package, version, go build args...: build PACKAGE@VERSION unless cached
  local out="$1" package="$2" version="$3" dir; shift 3
  built "$out" && return
  dir="$(helper_module "$(basename "$out")" "module eppconf.local/$(basename "$out")
go 1.25")"
  go_build_package "$dir" "$package" "$version" "$out" "$@"
}

build_runtime() {  # sets RUNTIME (the directory of containerd, runc, crictl and the CNI plugins)
  RUNTIME="$KIND_CACHE/runtime/containerd-$CONTAINERD_VERSION-runc-$RUNC_VERSION-crictl-$CRICTL_VERSION-cni-$CNI_PLUGINS_VERSION"
  local command plugin containerd=github.com/containerd/containerd/v2
  for command in containerd ctr containerd-shim-runc-v2; do
    CGO_ENABLED=0 go_tool "$RUNTIME/$command" "$containerd/cmd/$command" "$CONTAINERD_VERSION" \
      -tags "no_aufs no_zfs no_btrfs no_devmapper" -ldflags "-s -w -X $containerd/version.Version=$CONTAINERD_VERSION"
  done
  CGO_ENABLED=1 go_tool "$RUNTIME/runc" github.com/opencontainers/runc "$RUNC_VERSION" \
    -tags seccomp -ldflags "-s -w -X main.version=${RUNC_VERSION#v}"
  CGO_ENABLED=0 go_tool "$RUNTIME/crictl" sigs.k8s.io/cri-tools/cmd/crictl "$CRICTL_VERSION" \
    -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"
  for plugin in "${CNI_PLUGINS[@]}"; do
    CGO_ENABLED=0 go_tool "$RUNTIME/cni/$(basename "$plugin")" \
      "github.com/containernetworking/plugins/plugins/$plugin" "$CNI_PLUGINS_VERSION" -ldflags "-s -w"
  done
}

build_kubernetes() {  # sets KUBERNETES (the directory of KUBERNETES_COMMANDS)
  KUBERNETES="$KIND_CACHE/kubernetes-$KUBERNETES_VERSION"
  built "${KUBERNETES_COMMANDS[@]/#/$KUBERNETES/}" && return
  kubernetes_module kubernetes
  step "downloading k8s.io/kubernetes@$KUBERNETES_VERSION and its dependencies"
  local packages=("${KUBERNETES_COMMANDS[@]/#/k8s.io/kubernetes/cmd/}")
  (cd "$K8S_MODULE" && go get "${packages[@]/%/@$KUBERNETES_VERSION}" >&2)
  rm -rf "$KUBERNETES.partial"
  with_progress "building ${KUBERNETES_COMMANDS[*]}" go build -C "$K8S_MODULE" -trimpath -ldflags "$K8S_LDFLAGS" \
    -o "$KUBERNETES.partial/" "${packages[@]}"
  rm -rf "$KUBERNETES"
  mv "$KUBERNETES.partial" "$KUBERNETES"
}

# The images kubeadm pulls for KUBERNETES_VERSION, one "image program" line each (program: what
# serves it); the pause image is also containerd's sandbox image.
required_images() {
  "$KUBERNETES/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION" 2>/dev/null |
    awk '{ n = split($1, parts, "/"); split(parts[n], name, ":"); print $1, name[1] }'
}

image_tag() {  # program: the tag kubeadm wants for it
  required_images | awk -v program="$1" '$2 == program { n = split($1, t, ":"); print t[n] }'
}

build_addons() {  # sets ETCD, COREDNS, PAUSE (the binaries at the versions kubeadm names)
  local etcd_tag coredns_tag pause_tag control_plane source
  etcd_tag="$(image_tag etcd)"; coredns_tag="$(image_tag coredns)"; pause_tag="$(image_tag pause)"
  [[ -n "$etcd_tag" && -n "$coredns_tag" && -n "$pause_tag" ]] || {
    step "kubeadm $KUBERNETES_VERSION did not name etcd, coredns and pause images:"; required_images >&2; exit 1
  }
  control_plane="$(bash "$SCRIPTS/build-control-plane.sh")"
  ETCD="$control_plane/etcd"
  local etcd_version
  etcd_version="$("$ETCD" --version | sed -n 's/^etcd Version: //p')"
  [[ "$etcd_version" == "${etcd_tag%-*}" ]] || {
    step "kubeadm $KUBERNETES_VERSION wants etcd $etcd_tag but $ETCD is $etcd_version"; exit 1
  }
  COREDNS="$KIND_CACHE/coredns-$coredns_tag/coredns"
  CGO_ENABLED=0 go_tool "$COREDNS" github.com/coredns/coredns "$coredns_tag" -ldflags "-s -w"
  PAUSE="$KIND_CACHE/pause-$pause_tag/pause"
  built "$PAUSE" && return
  source="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",\?$/\1/p')"
  step "compiling pause $pause_tag (static, from k8s.io/kubernetes build/pause)"
  mkdir -p "$(dirname "$PAUSE")"
  gcc -Os -static -DVERSION="$pause_tag" -o "$PAUSE.partial" "$source/build/pause/linux/pause.c"
  strip "$PAUSE.partial"
  mv "$PAUSE.partial" "$PAUSE"
}

build_kind_cli() {  # sets KIND
  KIND="$KIND_CACHE/kind-$KIND_VERSION/kind"
  CGO_ENABLED=0 go_tool "$KIND" sigs.k8s.io/kind "$KIND_VERSION" -ldflags "-s -w"
}

# --- images ----------------------------------------------------------------------------------

# An image of one program on the small Debian base (pause: alone, it is static).
build_program_image() {  # image, program
  local image="$1" program="$2" context="$WORKDIR/image-$2" binary path="/usr/local/bin/$2"
  case "$program" in
    etcd) binary="$ETCD" ;;
    coredns) binary="$COREDNS"; path=/coredns ;;
    pause) binary="$PAUSE"; path=/pause ;;
    *) binary="$KUBERNETES/$program" ;;
  esac
  mkdir -p "$context"
  cp "$binary" "$context/$program"
  if [[ "$program" == pause ]]; then
    tar -C "$context" --numeric-owner --owner=0 --group=0 -cf "$context.tar" pause
    docker import --change "ENTRYPOINT [\"$path\"]" --change "USER 65535:65535" "$context.tar" "$image" >/dev/null
    return
  fi
  printf 'FROM %s\nCOPY %s %s\nENTRYPOINT ["%s"]\n' "$DEBIAN_IMAGE" "$program" "$path" "$path" >"$context/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$image" "$context" >/dev/null 2>"$context.log" || {
    step "docker build of $image failed:"; cat "$context.log" >&2; exit 1
  }
}

build_images_tar() {  # writes $WORKDIR/images.tar with every required image
  local image program images=()
  while read -r image program; do
    step "image $image"
    build_program_image "$image" "$program"
    images+=("$image")
  done < <(required_images)
  docker save -o "$WORKDIR/images.tar" "${images[@]}"
}

# The node's root filesystem: kind's files, the runtime, Kubernetes, our containerd and CNI setup.
assemble_rootfs() {  # dir
  local dir="$1" files
  files="$(go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",\?$/\1/p')/images/base/files"
  mkdir -p "$dir"
  tar -C "$dir" -xf "$(rootfs_tar node "${NODE_PACKAGES[@]}")"
  cp -r --no-preserve=mode "$files"/. "$dir"/
  chmod 0755 "$dir"/usr/local/bin/* "$dir"/kind "$dir"/kind/bin "$dir"/kind/bin/*
  # the steps of kind's base image Dockerfile
  find "$dir"/lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
  rm -f "$dir"/lib/systemd/system/multi-user.target.wants/* "$dir"/etc/systemd/system/*.wants/* \
    "$dir"/lib/systemd/system/local-fs.target.wants/* "$dir"/lib/systemd/system/sockets.target.wants/*udev* \
    "$dir"/lib/systemd/system/sockets.target.wants/*initctl* "$dir"/lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >>"$dir"/etc/systemd/journald.conf
  ln -sf /usr/lib/systemd/systemd "$dir"/sbin/init
  chroot "$dir" systemctl enable kubelet.service containerd.service undo-mount-hacks.service >/dev/null 2>&1
  chroot "$dir" systemctl mask systemd-binfmt.service >/dev/null 2>&1
  mkdir -p "$dir"/etc/kubernetes/manifests "$dir"/opt/cni/bin "$dir"/etc/cni/net.d
  # runtime and Kubernetes
  install -m 0755 "$RUNTIME"/{containerd,ctr,containerd-shim-runc-v2,crictl} "$dir"/usr/local/bin/
  install -m 0755 "$RUNTIME"/runc "$dir"/usr/local/sbin/runc
  install -m 0755 "$RUNTIME"/cni/* "$dir"/opt/cni/bin/
  install -m 0755 "$KUBERNETES"/{kubelet,kubeadm,kubectl} "$dir"/usr/bin/
  echo "$KUBERNETES_VERSION" >"$dir"/kind/version
  chroot "$dir" ctr oci spec |
    chroot "$dir" jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' |
    chroot "$dir" jq 'del(.process.rlimits)' >"$dir"/etc/containerd/cri-base.json
  # Pod sandboxes may not lower their OOM score here. runc's systemd cgroup driver freezes every new
  # container to set its device rules, and on this VM's cgroup v1 that freeze often times out under
  # load ("unable to freeze"): the kubelet then retries the sandbox only after a backoff of 10 s
  # and more. With the cgroupfs driver runc writes the rules without a freeze; the kubelet takes its
  # driver from containerd. The sandbox image is the one imported below.
  sed -i -e 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' \
    -e 's/SystemdCgroup = true/SystemdCgroup = false/' \
    -e "s|sandbox_image = .*|sandbox_image = \"$(required_images | awk '$2 == "pause" {print $1}')\"|" \
    "$dir"/etc/containerd/config.toml
  grep -q 'restrict_oom_score_adj = true' "$dir"/etc/containerd/config.toml &&
    grep -q 'SystemdCgroup = false' "$dir"/etc/containerd/config.toml || {
    step "kind's containerd config.toml has no restrict_oom_score_adj or SystemdCgroup line to set"; exit 1
  }
  cat >"$dir"/etc/cni/net.d/10-eppconf-bridge.conflist <<EOF
{
  "cniVersion": "1.0.0",
  "name": "eppconf-bridge",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_SUBNET"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

# Run the rootfs image, import the images into its containerd, commit the node image.
commit_node_image() {  # rootfs image
  local cid image listed deadline=$((SECONDS + 60))
  cid="$(docker run -d --privileged --entrypoint sleep "$1" infinity)"
  at_exit "docker rm -f -v $cid >/dev/null 2>&1"
  docker exec "$cid" bash -c 'nohup containerd >/tmp/containerd.log 2>&1 & echo $! >/tmp/containerd.pid'
  until docker exec "$cid" ctr version >/dev/null 2>&1; do
    (( SECONDS < deadline )) || { step "containerd did not start in the node:"; docker exec "$cid" cat /tmp/containerd.log >&2; exit 1; }
    sleep 1
  done
  step "importing $(required_images | wc -l) images into the node's containerd"
  docker exec -i "$cid" ctr -n k8s.io images import --label=io.cri-containerd.pinned=pinned \
    --all-platforms --no-unpack --digests - <"$WORKDIR/images.tar" >/dev/null
  # listed once: `ctr ... | grep -q` fails under pipefail whenever grep's early exit cuts ctr off
  listed="$(docker exec "$cid" ctr -n k8s.io images ls -q)"
  for image in $(required_images | cut -d' ' -f1); do
    grep -qx "$image" <<<"$listed" || { step "$image missing after import"; exit 1; }
  done
  # PID 1 (sleep) reaps nothing: containerd has exited once it is a zombie
  docker exec "$cid" bash -c 'pid="$(cat /tmp/containerd.pid)"; kill "$pid"
    while [[ -e /proc/$pid ]] && ! grep -q "^State:.*Z" "/proc/$pid/status" 2>/dev/null; do sleep 0.2; done
    rm -f /tmp/containerd.*'
  step "committing $NODE_IMAGE"
  docker commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' --change 'CMD []' \
    "$cid" "$NODE_IMAGE" >/dev/null
  # systemd stops on SIGRTMIN+3; Docker 20.10 takes STOPSIGNAL from a Dockerfile only
  printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\nLABEL eppconf.recipe=%s\n' "$NODE_IMAGE" "$RECIPE" |
    DOCKER_BUILDKIT=0 docker build -q -t "$NODE_IMAGE" - >/dev/null
  docker rm -f -v "$cid" >/dev/null
}

# --- main ------------------------------------------------------------------------------------

renice -n 10 -p $$ >/dev/null  # the Go builds share the machine's cores with everything else
require_go
make_workdir
ensure_host
build_kind_cli
if [[ "$(image_recipe "$NODE_IMAGE")" == "$RECIPE" ]]; then
  step "cached: $NODE_IMAGE (kind: $KIND)"
  echo "$NODE_IMAGE"
  exit 0
fi
start_rootfs node "${NODE_PACKAGES[@]}"
start_rootfs image "${DEBIAN_IMAGE_PACKAGES[@]}"
build_runtime
build_kubernetes
build_addons
ensure_debian_image
wait_rootfs
build_images_tar
step "assembling the node's root filesystem"
assemble_rootfs "$WORKDIR/node"
rootfs_image="eppconf.local/kind-node-rootfs:$RECIPE"
tar -C "$WORKDIR/node" --numeric-owner -c . | docker import --change 'ENV container=docker' \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' - "$rootfs_image" >/dev/null
rm -rf "$WORKDIR/node"
commit_node_image "$rootfs_image"
docker rmi "$rootfs_image" >/dev/null
step "done: $NODE_IMAGE ($(docker image inspect --format '{{.Size}}' "$NODE_IMAGE" | numfmt --to=iec)B; kind: $KIND)"
echo "$NODE_IMAGE"
