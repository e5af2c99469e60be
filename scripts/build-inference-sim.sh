#!/usr/bin/env bash
# Build llm-d-inference-sim (the reference vLLM simulator) with Go through the module proxy and cache it.
#
# Usage: scripts/build-inference-sim.sh [OUT_DIR]
# OUT_DIR defaults to $EPPCONF_CACHE/inference-sim/$INFERENCE_SIM_VERSION (EPPCONF_CACHE defaults
# to ~/.cache/eppconf). Prints the binary's path on its last line.
# Note: the simulator listens on every interface (no bind-address flag); run it in a network
# namespace with only loopback, as fakes/compat/compare.sh does.
set -euo pipefail

INFERENCE_SIM_VERSION="${INFERENCE_SIM_VERSION:-v0.10.2}"
module="github.com/llm-d/llm-d-inference-sim"
cache="${EPPCONF_CACHE:-$HOME/.cache/eppconf}"
out="${1:-$cache/inference-sim/$INFERENCE_SIM_VERSION}"
binary="$out/llm-d-inference-sim"

step() { printf '[build-inference-sim] %s\n' "$*" >&2; }

if [[ -x "$binary" ]]; then
  step "cached: $binary"
  echo "$binary"
  exit 0
fi
command -v go >/dev/null || { step "go is not installed; install Go 1.25+ first"; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

printf 'module eppconf.local/inference-sim\ngo 1.25\n' >"$work/go.mod"
step "resolving $module@$INFERENCE_SIM_VERSION through $(go env GOPROXY)"
if ! (cd "$work" && go get "$module/cmd/llm-d-inference-sim@$INFERENCE_SIM_VERSION" >&2); then
  step "the module proxy did not serve $module@$INFERENCE_SIM_VERSION (see the error above)"
  exit 1
fi
step "building (pure Go, no cgo)"
(cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$binary.partial" "$module/cmd/llm-d-inference-sim")
mv "$binary.partial" "$binary"
step "done: $binary"
echo "$binary"
