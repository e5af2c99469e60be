# Shared steps of the scripts that build upstream Go programs through the module proxy.
# Source it after setting SCRIPT_NAME; every function reports on stderr so that stdout carries
# only the path a script prints on its last line.

EPPCONF_CACHE="${EPPCONF_CACHE:-$HOME/.cache/eppconf}"
PROGRESS_EVERY="${PROGRESS_EVERY:-30}"
# The one Kubernetes release of the project (eppconf.controlplane.binaries.KUBERNETES_VERSION).
KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.36.3}"

step() { printf '[%s] %s\n' "$SCRIPT_NAME" "$*" >&2; }

# True when every given file is an executable that is already built.
built() {  # files
  local file
  for file in "$@"; do [[ -x "$file" ]] || return 1; done
}

# Print PATH and exit when every given file is already built.
exit_if_cached() {  # path to print, then the files that must exist
  local print="$1"; shift
  built "$@" || return 0
  step "cached: $print"
  echo "$print"
  exit 0
}

# Install Debian packages (the only registry these scripts use besides Go's module proxy).
apt_install() {  # packages
  step "installing $* (apt-get)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

require_go() {
  command -v go >/dev/null || { step "go is not installed; install Go 1.25+ first"; exit 2; }
}

# A temporary directory removed on exit, together with any background build still running and
# whatever at_exit registered.
make_workdir() {
  WORKDIR="$(mktemp -d)"
  AT_EXIT=()
  trap 'for command in "${AT_EXIT[@]}"; do eval "$command"; done; jobs -pr | xargs -r kill 2>/dev/null; rm -rf "$WORKDIR"' EXIT
}

# Run COMMAND (a shell string) when the script exits; needs make_workdir first.
at_exit() { AT_EXIT+=("$1"); }

# A helper Go module in $WORKDIR/NAME whose go.mod is the given text; prints its directory.
helper_module() {  # name, go.mod text
  local dir="$WORKDIR/$1"
  mkdir -p "$dir"
  printf '%s\n' "$2" >"$dir/go.mod"
  echo "$dir"
}

# Run a long, silent command, reporting the elapsed time every PROGRESS_EVERY seconds.
with_progress() {  # label, then the command
  local label="$1"; shift
  "$@" &
  local pid=$! start=$SECONDS next=$((SECONDS + PROGRESS_EVERY))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (( SECONDS >= next )); then
      step "$label: still running ($((SECONDS - start)) s)"
      next=$((next + PROGRESS_EVERY))
    fi
  done
  wait "$pid"
}

# Resolve PACKAGE@VERSION in module DIR, build it into OUT (atomically), with extra go build args.
go_build_package() {  # module dir, package, version, out file, go build args...
  local dir="$1" package="$2" version="$3" out="$4"; shift 4
  step "downloading $package@$version and its dependencies"
  (cd "$dir" && go get "$package@$version" >&2)
  mkdir -p "$(dirname "$out")"
  out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"  # go build -C resolves -o against DIR
  with_progress "building $package" go build -C "$dir" -trimpath "$@" -o "$out.partial" "$package"
  mv "$out.partial" "$out"
}

# A helper module in $WORKDIR/NAME requiring k8s.io/kubernetes@$KUBERNETES_VERSION, with every
# staging module (listed by that release's own go.mod) pinned to the matching v0.Y.Z. Sets
# K8S_MODULE (its directory), K8S_GOMOD (the release's go.mod) and K8S_LDFLAGS (the version stamp).
kubernetes_module() {  # name
  step "resolving k8s.io/kubernetes@$KUBERNETES_VERSION (its go.mod lists the staging modules)"
  K8S_GOMOD="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')"
  local staging staging_version="v0.${KUBERNETES_VERSION#v1.}" version_pkg=k8s.io/component-base/version
  staging="$(sed -n 's/^\s*\(k8s\.io\/[a-z0-9-]*\) => \.\/staging\/.*/\1/p' "$K8S_GOMOD" | sort -u)"
  [[ -n "$staging" ]] || { step "could not read the staging modules from $K8S_GOMOD"; exit 1; }
  step "$(wc -l <<<"$staging") staging modules pinned to $staging_version"
  K8S_LDFLAGS="-s -w -X $version_pkg.gitVersion=$KUBERNETES_VERSION -X $version_pkg.gitMajor=1 \
 -X $version_pkg.gitMinor=$(cut -d. -f2 <<<"$KUBERNETES_VERSION") -X $version_pkg.gitTreeState=clean \
 -X $version_pkg.buildDate=1970-01-01T00:00:00Z"
  K8S_MODULE="$(helper_module "$1" "module eppconf.local/$1
go 1.25
require k8s.io/kubernetes $KUBERNETES_VERSION
$(while read -r m; do echo "replace $m => $m $staging_version"; done <<<"$staging")")"
}
