#!/usr/bin/env bash
# Build kube-apiserver and etcd with Go through the module proxy and cache them.
#
# Usage: scripts/build-control-plane.sh [OUT_DIR]
# OUT_DIR defaults to $EPPCONF_CACHE/control-plane/k8s-$KUBERNETES_VERSION
# (EPPCONF_CACHE defaults to ~/.cache/eppconf). Prints OUT_DIR on its last line.
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.36.3}"
cache="${EPPCONF_CACHE:-$HOME/.cache/eppconf}"
out="${1:-$cache/control-plane/k8s-$KUBERNETES_VERSION}"

step() { printf '[build-control-plane] %s\n' "$*" >&2; }

# Run a long, silent command, reporting the elapsed time every PROGRESS_EVERY seconds.
PROGRESS_EVERY="${PROGRESS_EVERY:-30}"
with_progress() {  # label, then the command
  local label="$1"; shift
  "$@" &
  local pid=$! start=$SECONDS next=$((SECONDS + PROGRESS_EVERY))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (( SECONDS >= next )); then
      step "$label: still running ($((SECONDS - start)) s)"
      next=$((next + PROGRESS_EVERY))
    fi
  done
  wait "$pid"
}

if [[ -x "$out/kube-apiserver" && -x "$out/etcd" ]]; then
  step "cached: $out"
  echo "$out"
  exit 0
fi
command -v go >/dev/null || { step "go is not installed; install Go 1.25+ first"; exit 2; }

work="$(mktemp -d)"
trap 'jobs -pr | xargs -r kill 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$out"
out="$(cd "$out" && pwd)"  # go build -C resolves a relative -o against the module dir

staging_minor="v0.${KUBERNETES_VERSION#v1.}"

step "resolving k8s.io/kubernetes@$KUBERNETES_VERSION (its go.mod lists the staging modules)"
k8s_gomod="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')"
etcd_version="$(sed -n 's/^\s*go\.etcd\.io\/etcd\/client\/v3 \(v[0-9.]*\).*/\1/p' "$k8s_gomod" | head -n1)"
staging="$(sed -n 's/^\s*\(k8s\.io\/[a-z0-9-]*\) => \.\/staging\/.*/\1/p' "$k8s_gomod" | sort -u)"
[[ -n "$staging" && -n "$etcd_version" ]] || { step "could not read staging modules or etcd version from $k8s_gomod"; exit 1; }
step "$(wc -l <<<"$staging") staging modules pinned to $staging_minor; etcd $etcd_version"

build_module() {  # name, then go.mod body
  local dir="$work/$1"
  mkdir -p "$dir"
  printf '%s\n' "$2" >"$dir/go.mod"
  echo "$dir"
}

apiserver_dir="$(build_module kube-apiserver "module eppconf.local/kube-apiserver
go 1.25
require k8s.io/kubernetes $KUBERNETES_VERSION
$(while read -r m; do echo "replace $m => $m $staging_minor"; done <<<"$staging")")"

version_pkg="k8s.io/component-base/version"
ldflags="-s -w -X $version_pkg.gitVersion=$KUBERNETES_VERSION -X $version_pkg.gitMajor=1 \
 -X $version_pkg.gitMinor=$(cut -d. -f2 <<<"$KUBERNETES_VERSION") -X $version_pkg.gitTreeState=clean \
 -X $version_pkg.buildDate=1970-01-01T00:00:00Z"

step "downloading kube-apiserver dependencies"
(cd "$apiserver_dir" && go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" >&2)
step "building kube-apiserver (several minutes on 2 cores)"
with_progress "building kube-apiserver" go build -C "$apiserver_dir" -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver.partial" k8s.io/kubernetes/cmd/kube-apiserver
mv "$out/kube-apiserver.partial" "$out/kube-apiserver"

etcd_dir="$(build_module etcd "module eppconf.local/etcd
go 1.25")"
step "downloading etcd $etcd_version dependencies"
(cd "$etcd_dir" && go get "go.etcd.io/etcd/server/v3@$etcd_version" >&2)
step "building etcd"
with_progress "building etcd" go build -C "$etcd_dir" -trimpath -ldflags "-s -w" -o "$out/etcd.partial" go.etcd.io/etcd/server/v3
mv "$out/etcd.partial" "$out/etcd"

step "done: $("$out/kube-apiserver" --version) / $("$out/etcd" --version | head -n1)"
echo "$out"
