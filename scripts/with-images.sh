#!/usr/bin/env bash
# Run a command with Docker Engine up and the project's images built, their names in the environment.
#
# Usage: scripts/with-images.sh COMMAND [ARG...]
# Starts Docker Engine (scripts/docker-engine.sh up) when none answers, and stops it again once
# COMMAND has ended when it was this script that started it. Builds the images with
# scripts/build-images.sh (cached) and exports each one as EPPCONF_<ROLE>_IMAGE, the role upper-cased
# with '-' and '.' as '_' (EPPCONF_FAKES_IMAGE, EPPCONF_REFERENCE_IMAGE, EPPCONF_GIE_V1_5_0_IMAGE),
# and EPPCONF_REQUIRE_IMAGES=1, so that tests needing an image fail instead of skipping.
# Exits with COMMAND's status.
set -euo pipefail
SCRIPT_NAME=with-images
SCRIPTS="$(cd "$(dirname "$0")" && pwd)"
source "$SCRIPTS/lib/gobuild.sh"

[[ $# -gt 0 ]] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }

if ! docker info >/dev/null 2>&1; then
  bash "$SCRIPTS/docker-engine.sh" up
  trap 'bash "$SCRIPTS/docker-engine.sh" down' EXIT
fi

images="$(bash "$SCRIPTS/build-images.sh")"
while read -r role image; do
  variable="EPPCONF_$(echo "$role" | tr 'a-z.-' 'A-Z__')_IMAGE"
  export "$variable=$image"
  step "$variable=$image"
done <<<"$images"
export EPPCONF_REQUIRE_IMAGES=1

status=0
"$@" || status=$?
exit "$status"
