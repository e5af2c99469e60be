"""Where the control-plane binaries (``etcd``, ``kube-apiserver``) come from.

Search order: an explicit directory (``--control-plane-bin-dir``), then the
``KUBEBUILDER_ASSETS`` environment variable (envtest's convention), then the cache
that ``eppconf build control-plane`` (``scripts/build-control-plane.sh``) fills. The first source
that is given decides; when it lacks a binary, :class:`BinariesNotFound` names every source and
the command that builds them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from eppconf.build import build_command, script

#: Kubernetes release the build script pins (etcd follows from its go.mod).
KUBERNETES_VERSION = "v1.36.3"
#: Binaries a control-plane directory must hold.
REQUIRED_BINARIES = ("etcd", "kube-apiserver")
#: The command-line flag naming an explicit binary directory.
BIN_DIR_FLAG = "--control-plane-bin-dir"
#: The environment variable envtest uses for the same purpose.
ASSETS_ENV = "KUBEBUILDER_ASSETS"
#: The script that builds the binaries with Go and fills the cache (shipped in the wheel too).
BUILD_SCRIPT = script("control-plane")
#: The command that runs it.
BUILD_COMMAND = build_command("control-plane")


class BinariesNotFound(RuntimeError):
    """No usable directory with ``etcd`` and ``kube-apiserver`` was found."""


@dataclass(frozen=True)
class _Source:
    label: str
    path: Path | None

    def problem(self) -> str | None:
        """Why this source cannot be used, or None when it holds every binary."""
        if self.path is None:
            return "not given"
        if not self.path.is_dir():
            return f"{self.path}: no such directory"
        missing = [name for name in REQUIRED_BINARIES if not os.access(self.path / name, os.X_OK)]
        return f"{self.path}: missing {', '.join(missing)}" if missing else None


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """``$EPPCONF_CACHE``, default ``~/.cache/eppconf``."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("EPPCONF_CACHE") or Path.home() / ".cache" / "eppconf")


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The directory the build script writes the pinned binaries to."""
    return cache_root(environ) / "control-plane" / f"k8s-{KUBERNETES_VERSION}"


def _sources(explicit: Path | None, environ: Mapping[str, str]) -> list[_Source]:
    assets = environ.get(ASSETS_ENV)
    return [
        _Source(BIN_DIR_FLAG, explicit),
        _Source(ASSETS_ENV, Path(assets) if assets else None),
        _Source("cache", cache_dir(environ)),
    ]


def find_binaries(
    explicit: Path | None = None, *, build: bool = False, environ: Mapping[str, str] | None = None
) -> Path:
    """The directory holding ``etcd`` and ``kube-apiserver``.

    With ``build=True`` and neither the flag nor the variable given, the build script
    fills the cache when it is empty (its progress goes to stderr). Otherwise a
    source without the binaries raises :class:`BinariesNotFound`.
    """
    environ = os.environ if environ is None else environ
    sources = _sources(explicit, environ)
    chosen = next(source for source in sources if source.path is not None)
    if chosen.problem() is None:
        assert chosen.path is not None
        return chosen.path.resolve()
    if build and chosen is sources[-1]:
        return build_binaries(environ=environ)
    raise BinariesNotFound(_not_found_message(sources))


def _not_found_message(sources: list[_Source]) -> str:
    looked = "; ".join(f"{source.label}: {source.problem()}" for source in sources)
    return (
        f"control-plane binaries ({', '.join(REQUIRED_BINARIES)}) not found ({looked}). "
        f"Pass {BIN_DIR_FLAG} DIR, set {ASSETS_ENV}=DIR, or build them into the cache with "
        f"`{BUILD_COMMAND}` (runs {BUILD_SCRIPT}: Kubernetes {KUBERNETES_VERSION}, needs Go and the"
        f" module proxy)."
    )


def build_binaries(*, environ: Mapping[str, str] | None = None) -> Path:
    """Run the build script (progress streams to stderr) and return the directory it filled."""
    environ = dict(os.environ if environ is None else environ)
    environ.setdefault("KUBERNETES_VERSION", KUBERNETES_VERSION)
    target = cache_dir(environ)
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), str(target)],
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BinariesNotFound(f"{BUILD_SCRIPT} failed with exit code {result.returncode}; see its output above")
    return Path(result.stdout.strip().splitlines()[-1]).resolve()
