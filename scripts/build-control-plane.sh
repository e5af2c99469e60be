#!/usr/bin/env bash
# Build kube-apiserver and etcd with Go through the module proxy and cache them.
#
# Usage: scripts/build-control-plane.sh [OUT_DIR]
# OUT_DIR defaults to $EPPCONF_CACHE/control-plane/k8s-$KUBERNETES_VERSION
# (EPPCONF_CACHE defaults to ~/.cache/eppconf). Prints OUT_DIR on its last line.
# KUBERNETES_VERSION defaults to the project's one release (scripts/lib/gobuild.sh).
# kube-apiserver comes from a helper module that requires k8s.io/kubernetes and pins every
# staging module (listed by that release's own go.mod) to the matching v0.Y.Z; etcd is the
# release that kube-apiserver's go.mod pairs it with.
set -euo pipefail
SCRIPT_NAME=build-control-plane
source "$(dirname "$0")/lib/gobuild.sh"

out="${1:-$EPPCONF_CACHE/control-plane/k8s-$KUBERNETES_VERSION}"

exit_if_cached "$out" "$out/kube-apiserver" "$out/etcd"
require_go
make_workdir

kubernetes_module kube-apiserver
etcd_version="$(sed -n 's/^\s*go\.etcd\.io\/etcd\/client\/v3 \(v[0-9.]*\).*/\1/p' "$K8S_GOMOD" | head -n1)"
[[ -n "$etcd_version" ]] || { step "could not read the etcd version from $K8S_GOMOD"; exit 1; }
step "etcd $etcd_version"
go_build_package "$K8S_MODULE" k8s.io/kubernetes/cmd/kube-apiserver "$KUBERNETES_VERSION" \
  "$out/kube-apiserver" -ldflags "$K8S_LDFLAGS"

etcd_dir="$(helper_module etcd "module eppconf.local/etcd
go 1.25")"
go_build_package "$etcd_dir" go.etcd.io/etcd/server/v3 "$etcd_version" "$out/etcd" -ldflags "-s -w"

step "done: $("$out/kube-apiserver" --version) / $("$out/etcd" --version | head -n1)"
echo "$out"
