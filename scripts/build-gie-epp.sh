#!/usr/bin/env bash
# Build one of GIE's Endpoint Pickers with Go through the module proxy and cache it.
#
# Usage: scripts/build-gie-epp.sh [VERSION [COMMAND]]
#   VERSION  a release of sigs.k8s.io/gateway-api-inference-extension (default v1.5.0)
#   COMMAND  the program under cmd/ (default epp, the full EPP; v1.6.0 ships only lwepp)
# Writes $EPPCONF_CACHE/gie-epp/VERSION/COMMAND (EPPCONF_CACHE defaults to ~/.cache/eppconf) and
# prints that path on its last line.
set -euo pipefail
SCRIPT_NAME=build-gie-epp
source "$(dirname "$0")/lib/gobuild.sh"

version="${1:-v1.5.0}"
command="${2:-epp}"
out="$EPPCONF_CACHE/gie-epp/$version/$command"

exit_if_cached "$out" "$out"
require_go
make_workdir
dir="$(helper_module "gie-$command" "module eppconf.local/gie-$command
go 1.25")"
go_build_package "$dir" "sigs.k8s.io/gateway-api-inference-extension/cmd/$command" "$version" "$out" -ldflags "-s -w"
step "done: $out"
echo "$out"
