#!/usr/bin/env bash
# Run a command with Docker Engine up and the project's images built, their names in the environment.
#
# Usage: scripts/with-images.sh COMMAND [ARG...]
# Starts Docker Engine (scripts/docker-engine.sh up) when none answers, and stops it again once
# COMMAND has ended when it was this script that started it. Builds the images with
# scripts/build-images.sh (cached) and exports each one as EPPCONF_<ROLE>_IMAGE, the role upper-cased
# with '-' and '.' as '_' (EPPCONF_FAKES_IMAGE, EPPCONF_REFERENCE_IMAGE, EPPCONF_GIE_V1_5_0_IMAGE),
# and EPPCONF_REQUIRE_IMAGES=1, so that tests needing an image fail instead of skipping.
#
# The kind node image (scripts/build-kind-node.sh, cached) builds in the background, niced, while
# COMMAND runs: a cold build is a quarter of an hour of Go builds, and the tests that do not need it
# leave CPU to spare. EPPCONF_KIND_NODE_BUILD names the build's directory: `status` appears there
# when the build has ended (its exit code), `image` holds its output (the node image on the last
# line), `log` its progress. The kind tests wait for it (tests/kind/kind_helpers.py), and
# EPPCONF_REQUIRE_KIND=1 makes them fail instead of skipping. A build still running when COMMAND
# ends is stopped. Exits with COMMAND's status.
set -euo pipefail
SCRIPT_NAME=with-images
SCRIPTS="$(cd "$(dirname "$0")" && pwd)"
source "$SCRIPTS/lib/gobuild.sh"

[[ $# -gt 0 ]] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }

node_build="$(mktemp -d)"
cleanup() {
  if [[ -n "${node_build_pid:-}" ]]; then
    # the background build leads its own process group (setsid): stop all of it
    kill -TERM -- "-$node_build_pid" 2>/dev/null || true
    wait "$node_build_pid" 2>/dev/null || true
  fi
  if [[ -n "${docker_started:-}" ]]; then bash "$SCRIPTS/docker-engine.sh" down || true; fi
  rm -rf "$node_build"
}
trap cleanup EXIT

if ! docker info >/dev/null 2>&1; then
  bash "$SCRIPTS/docker-engine.sh" up
  docker_started=1
fi

images="$(bash "$SCRIPTS/build-images.sh")"
while read -r role image; do
  variable="EPPCONF_$(echo "$role" | tr 'a-z.-' 'A-Z__')_IMAGE"
  export "$variable=$image"
  step "$variable=$image"
done <<<"$images"
export EPPCONF_REQUIRE_IMAGES=1

setsid bash -c 'bash "$1/build-kind-node.sh" >"$2/image" 2>"$2/log"; echo $? >"$2/status.partial"
  mv "$2/status.partial" "$2/status"' build-kind-node "$SCRIPTS" "$node_build" &
node_build_pid=$!
step "building the kind node image in the background (pid $node_build_pid, log $node_build/log)"
export EPPCONF_KIND_NODE_BUILD="$node_build" EPPCONF_REQUIRE_KIND=1

status=0
"$@" || status=$?
exit "$status"
