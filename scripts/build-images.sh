#!/usr/bin/env bash
# Build the project's container images on the local Debian base image, without a registry.
#
# Usage: scripts/build-images.sh
# Prints one line per image, `<role> <image>`:
#   fakes      eppconf.local/fakes:VERSION-HASH      `eppconf fake-server` (default) and `fake-launcher`
#   reference  eppconf.local/reference-epp:VERSION-HASH   the reference EPP (arguments: its flags)
#   gie-v1.5.0 eppconf.local/gie-epp:v1.5.0-HASH   GIE's EPP v1.5.0 from $EPPCONF_CACHE/gie-epp/v1.5.0/epp
#   gie-v1.6.0 eppconf.local/gie-lwepp:v1.6.0-HASH GIE's lightweight EPP v1.6.0 ($EPPCONF_CACHE/gie-epp/v1.6.0/lwepp)
#   llm-d-router eppconf.local/llm-d-router-epp:HASH  the binary $EPPCONF_LLMD_ROUTER_EPP names, when set
#              (an upstream binary that is not built is skipped with a message saying how to build it)
# VERSION is eppconf's, HASH that of the sources and the base image; an image already in
# Docker under its tag is reused, and the fakes' and reference images of other tags are removed. Progress goes to stderr. Docker Engine is started through
# scripts/docker-engine.sh when it is not running, and the Debian base image
# (scripts/lib/debian.sh) is made when missing. The packages come from a wheelhouse built on
# this host with its own pip settings, so nothing inside a container touches the network.
set -euo pipefail
SCRIPT_NAME=build-images
SCRIPTS="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$SCRIPTS")"
source "$SCRIPTS/lib/gobuild.sh"
source "$SCRIPTS/lib/debian.sh"

PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
export DOCKER_BUILDKIT=0  # the legacy builder needs no registry for its front end
SOURCES=(pyproject.toml README.md constraints.txt eppconf fakes conformance schemas)

# A hash of the sources that go into the images and of the base image they are built on.
inputs_hash() {
  { (cd "$ROOT" && find "${SOURCES[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z |
      xargs -0 sha256sum)
    docker image inspect --format '{{.Id}}' "$DEBIAN_IMAGE"; } | sha256sum | cut -c1-12
}

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

# Remove the repository's images of earlier sources (each is some 450 MB); one a container still
# uses stays.
remove_other_tags() {  # image
  local old
  for old in $(docker images --format '{{.Repository}}:{{.Tag}}' "${1%:*}"); do
    [[ "$old" == "$1" ]] || docker rmi "$old" >/dev/null 2>&1 || true
  done
}

build_fakes_image() {  # image
  local context="$WORKDIR/fakes"
  mkdir -p "$context/wheels"
  step "building wheels of eppconf and its pinned dependencies (pip wheel)"
  with_progress "pip wheel" "$PYTHON" -m pip wheel --quiet --wheel-dir "$context/wheels" -c "$ROOT/constraints.txt" \
    "$ROOT" >"$WORKDIR/pip.log" 2>&1 || { step "pip wheel failed:"; tail -n 20 "$WORKDIR/pip.log" >&2; exit 1; }
  cat >"$context/Dockerfile" <<EOF
FROM $DEBIAN_IMAGE
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/eppconf \\
 && /opt/eppconf/bin/pip install --quiet --no-cache-dir --no-index --find-links /tmp/wheels eppconf \\
 && rm -rf /tmp/wheels && useradd --uid 65532 --no-create-home eppconf
ENV PATH=/opt/eppconf/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 65532
# In a pod the servers must answer on the pod IP, so the image binds every interface.
ENTRYPOINT ["eppconf"]
CMD ["fake-server", "--host", "0.0.0.0", "--ports", "8000"]
EOF
  step "docker build $1"
  with_progress "docker build" docker build --network none -q -t "$1" "$context" \
    >"$WORKDIR/build.log" 2>&1 || { step "docker build failed:"; tail -n 20 "$WORKDIR/build.log" >&2; exit 1; }
}

build_reference_image() {  # image, fakes image
  step "docker build $1"
  printf 'FROM %s\nENTRYPOINT ["eppconf", "reference-epp"]\nCMD []\n' "$2" |
    docker build --network none -q -t "$1" - >/dev/null
}

build_binary_image() {  # image, binary: the binary as entrypoint, on the Debian image (it links glibc)
  local context="$WORKDIR/binary-$(basename "$2")"
  mkdir -p "$context"
  cp "$2" "$context/"
  printf 'FROM %s\nCOPY %s /usr/local/bin/\nUSER 65532\nENTRYPOINT ["/usr/local/bin/%s"]\n' \
    "$DEBIAN_IMAGE" "$(basename "$2")" "$(basename "$2")" >"$context/Dockerfile"
  step "docker build $1"
  docker build --network none -q -t "$1" "$context" >/dev/null
}

# The image of a Go-built upstream EPP, tagged with its version and a hash of binary and base image.
binary_image() {  # repository, version, binary
  local hash
  hash="$({ sha256sum <"$3"; docker image inspect --format '{{.Id}}' "$DEBIAN_IMAGE"; } | sha256sum | cut -c1-12)"
  echo "$1:$2-$hash"
}

make_workdir
bash "$SCRIPTS/docker-engine.sh" up
ensure_debian_image
tag="$("$PYTHON" -m eppconf --version | awk '{print $2}')-$(inputs_hash)"
fakes="eppconf.local/fakes:$tag"
reference="eppconf.local/reference-epp:$tag"
if image_present "$fakes"; then step "cached: $fakes"; else build_fakes_image "$fakes"; fi
if image_present "$reference"; then step "cached: $reference"; else build_reference_image "$reference" "$fakes"; fi
remove_other_tags "$fakes"
remove_other_tags "$reference"
echo "fakes $fakes"
echo "reference $reference"
upstream_image() {  # role, repository, version, binary, how to build the binary
  if [[ ! -x "$4" ]]; then
    step "no $4: skipping the $1 image ($5)"
    return
  fi
  local image
  image="$(binary_image "$2" "$3" "$4")"
  if image_present "$image"; then step "cached: $image"; else build_binary_image "$image" "$4"; fi
  echo "$1 $image"
}

upstream_image gie-v1.5.0 eppconf.local/gie-epp v1.5.0 "$EPPCONF_CACHE/gie-epp/v1.5.0/epp" \
  "build it with \`eppconf build gie-epp\`"
upstream_image gie-v1.6.0 eppconf.local/gie-lwepp v1.6.0 "$EPPCONF_CACHE/gie-epp/v1.6.0/lwepp" \
  "build it with \`eppconf build gie-epp v1.6.0 lwepp\`"
if [[ -n "${EPPCONF_LLMD_ROUTER_EPP:-}" ]]; then
  upstream_image llm-d-router eppconf.local/llm-d-router-epp local "$EPPCONF_LLMD_ROUTER_EPP" \
    "EPPCONF_LLMD_ROUTER_EPP names no executable"
fi
