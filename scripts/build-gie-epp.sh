#!/usr/bin/env bash
# Build GIE's Endpoint Picker (cmd/epp) with Go through the module proxy and cache it.
#
# Usage: scripts/build-gie-epp.sh [OUT_FILE]
# OUT_FILE defaults to $EPPCONF_CACHE/gie-epp/$GIE_VERSION/epp
# (EPPCONF_CACHE defaults to ~/.cache/eppconf). Prints OUT_FILE on its last line.
set -euo pipefail
SCRIPT_NAME=build-gie-epp
source "$(dirname "$0")/lib/gobuild.sh"

GIE_VERSION="${GIE_VERSION:-v1.5.0}"
out="${1:-$EPPCONF_CACHE/gie-epp/$GIE_VERSION/epp}"

exit_if_cached "$out" "$out"
require_go
make_workdir
dir="$(helper_module gie-epp "module eppconf.local/gie-epp
go 1.25")"
go_build_package "$dir" sigs.k8s.io/gateway-api-inference-extension/cmd/epp "$GIE_VERSION" "$out" -ldflags "-s -w"
step "done: $out"
echo "$out"
