#!/usr/bin/env bash
# Build kube-apiserver and etcd with Go through the module proxy and cache them.
#
# Usage: scripts/build-control-plane.sh [OUT_DIR]
# OUT_DIR defaults to $EPPCONF_CACHE/control-plane/k8s-$KUBERNETES_VERSION
# (EPPCONF_CACHE defaults to ~/.cache/eppconf). Prints OUT_DIR on its last line.
# kube-apiserver comes from a helper module that requires k8s.io/kubernetes and pins every
# staging module (listed by that release's own go.mod) to the matching v0.Y.Z; etcd is the
# release that kube-apiserver's go.mod pairs it with.
set -euo pipefail
SCRIPT_NAME=build-control-plane
source "$(dirname "$0")/lib/gobuild.sh"

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.36.3}"
out="${1:-$EPPCONF_CACHE/control-plane/k8s-$KUBERNETES_VERSION}"

exit_if_cached "$out" "$out/kube-apiserver" "$out/etcd"
require_go
make_workdir

step "resolving k8s.io/kubernetes@$KUBERNETES_VERSION (its go.mod lists the staging modules)"
k8s_gomod="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')"
etcd_version="$(sed -n 's/^\s*go\.etcd\.io\/etcd\/client\/v3 \(v[0-9.]*\).*/\1/p' "$k8s_gomod" | head -n1)"
staging="$(sed -n 's/^\s*\(k8s\.io\/[a-z0-9-]*\) => \.\/staging\/.*/\1/p' "$k8s_gomod" | sort -u)"
[[ -n "$staging" && -n "$etcd_version" ]] || { step "could not read staging modules or etcd version from $k8s_gomod"; exit 1; }
staging_version="v0.${KUBERNETES_VERSION#v1.}"
step "$(wc -l <<<"$staging") staging modules pinned to $staging_version; etcd $etcd_version"

apiserver_dir="$(helper_module kube-apiserver "module eppconf.local/kube-apiserver
go 1.25
require k8s.io/kubernetes $KUBERNETES_VERSION
$(while read -r m; do echo "replace $m => $m $staging_version"; done <<<"$staging")")"
version_pkg="k8s.io/component-base/version"
ldflags="-s -w -X $version_pkg.gitVersion=$KUBERNETES_VERSION -X $version_pkg.gitMajor=1 \
 -X $version_pkg.gitMinor=$(cut -d. -f2 <<<"$KUBERNETES_VERSION") -X $version_pkg.gitTreeState=clean \
 -X $version_pkg.buildDate=1970-01-01T00:00:00Z"
go_build_package "$apiserver_dir" k8s.io/kubernetes/cmd/kube-apiserver "$KUBERNETES_VERSION" \
  "$out/kube-apiserver" -ldflags "$ldflags"

etcd_dir="$(helper_module etcd "module eppconf.local/etcd
go 1.25")"
go_build_package "$etcd_dir" go.etcd.io/etcd/server/v3 "$etcd_version" "$out/etcd" -ldflags "-s -w"

step "done: $("$out/kube-apiserver" --version) / $("$out/etcd" --version | head -n1)"
echo "$out"
