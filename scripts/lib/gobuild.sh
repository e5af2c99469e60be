# Shared steps of the scripts that build upstream Go programs through the module proxy.
# Source it after setting SCRIPT_NAME; every function reports on stderr so that stdout carries
# only the path a script prints on its last line.

EPPCONF_CACHE="${EPPCONF_CACHE:-$HOME/.cache/eppconf}"
PROGRESS_EVERY="${PROGRESS_EVERY:-30}"

step() { printf '[%s] %s\n' "$SCRIPT_NAME" "$*" >&2; }

# Print PATH and exit when every given file is already built.
exit_if_cached() {  # path to print, then the files that must exist
  local print="$1"; shift
  local file
  for file in "$@"; do [[ -x "$file" ]] || return 0; done
  step "cached: $print"
  echo "$print"
  exit 0
}

require_go() {
  command -v go >/dev/null || { step "go is not installed; install Go 1.25+ first"; exit 2; }
}

# A temporary directory removed on exit, together with any background build still running.
make_workdir() {
  WORKDIR="$(mktemp -d)"
  trap 'jobs -pr | xargs -r kill 2>/dev/null; rm -rf "$WORKDIR"' EXIT
}

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
