#!/usr/bin/env bash
# Build GIE's Endpoint Picker (cmd/epp) with Go through the module proxy and cache it.
#
# Usage: scripts/build-gie-epp.sh [OUT_FILE]
# OUT_FILE defaults to $EPPCONF_CACHE/gie-epp/$GIE_VERSION/epp
# (EPPCONF_CACHE defaults to ~/.cache/eppconf). Prints OUT_FILE on its last line.
set -euo pipefail

GIE_VERSION="${GIE_VERSION:-v1.5.0}"
module="sigs.k8s.io/gateway-api-inference-extension"
cache="${EPPCONF_CACHE:-$HOME/.cache/eppconf}"
out="${1:-$cache/gie-epp/$GIE_VERSION/epp}"

step() { printf '[build-gie-epp] %s\n' "$*" >&2; }

if [[ -x "$out" ]]; then
  step "cached: $out"
  echo "$out"
  exit 0
fi
command -v go >/dev/null || { step "go is not installed; install Go 1.25+ first"; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$out")"
printf 'module eppconf.local/gie-epp\ngo 1.25\n' >"$work/go.mod"

step "downloading $module@$GIE_VERSION and its dependencies"
(cd "$work" && go get "$module/cmd/epp@$GIE_VERSION" >&2)
step "building $module/cmd/epp (a few minutes on 2 cores)"
(cd "$work" && go build -trimpath -ldflags "-s -w" -o "$out.partial" "$module/cmd/epp")
mv "$out.partial" "$out"
step "done: $out"
echo "$out"
