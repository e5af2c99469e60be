#!/usr/bin/env bash
# Build llm-d-inference-sim (the reference vLLM simulator) with Go through the module proxy and cache it.
#
# Usage: scripts/build-inference-sim.sh [OUT_DIR]
# OUT_DIR defaults to $EPPCONF_CACHE/inference-sim/$INFERENCE_SIM_VERSION (EPPCONF_CACHE defaults
# to ~/.cache/eppconf). Prints the binary's path on its last line.
# Note: the simulator listens on every interface (no bind-address flag); run it in a network
# namespace with only loopback, as fakes/compat/compare.sh does.
set -euo pipefail
SCRIPT_NAME=build-inference-sim
source "$(dirname "$0")/lib/gobuild.sh"

INFERENCE_SIM_VERSION="${INFERENCE_SIM_VERSION:-v0.10.2}"
out="${1:-$EPPCONF_CACHE/inference-sim/$INFERENCE_SIM_VERSION}"
binary="$out/llm-d-inference-sim"

exit_if_cached "$binary" "$binary"
require_go
make_workdir
dir="$(helper_module inference-sim "module eppconf.local/inference-sim
go 1.25")"
CGO_ENABLED=0 go_build_package "$dir" github.com/llm-d/llm-d-inference-sim/cmd/llm-d-inference-sim \
  "$INFERENCE_SIM_VERSION" "$binary" -ldflags "-s -w"
step "done: $binary"
echo "$binary"
