"""A kind cluster created from a node image built on this machine (no registry needed).

``scripts/build-kind-node.sh`` builds the kind CLI and the node image
``eppconf.local/kind-node:<Kubernetes version>``; ``EPPCONF_KIND_NODE_IMAGE`` names another
image instead. Clusters are created from ``kind-config.yaml`` (``EPPCONF_KIND_CONFIG`` names
another, e.g. one with kind's default CNI for a ``kindest/node`` image) with their own kubeconfig file
(the user's ``~/.kube/config`` is left alone) and only on a host whose firewall keeps
containers away from its outer network (:mod:`eppconf.kind.isolation`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from eppconf.controlplane.binaries import KUBERNETES_VERSION, cache_root
from eppconf.kind.isolation import check_isolation
from eppconf.resources import resource

#: The kind release the build script builds.
KIND_VERSION = "v0.33.0"
#: The node image the build script builds.
LOCAL_NODE_IMAGE = f"eppconf.local/kind-node:{KUBERNETES_VERSION}"
#: The Debian image (with python3) the build script imports beside it.
BASE_IMAGE = "eppconf.local/debian:bookworm"
#: The environment variable naming a node image to use instead.
NODE_IMAGE_ENV = "EPPCONF_KIND_NODE_IMAGE"
#: The environment variable naming a kind configuration to use instead of ``kind-config.yaml``.
CONFIG_ENV = "EPPCONF_KIND_CONFIG"
#: The script that builds the kind CLI and the node image.
BUILD_SCRIPT = resource("scripts/build-kind-node.sh")
#: How long ``kind create cluster`` may wait for the control plane.
CREATE_WAIT = "180s"


class KindUnavailable(RuntimeError):
    """Docker, the kind CLI or the node image is missing."""


def _run(args: list[str], what: str) -> str:
    """Run a kind command; its standard output."""
    try:
        result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=600)
    except FileNotFoundError as error:
        raise KindUnavailable(f"{what}: {args[0]} not found") from error
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise RuntimeError(f"{what} failed (exit {result.returncode}): {' '.join(args)}\n{tail}")
    return result.stdout


def kind_binary() -> Path:
    """The kind CLI: the one the build script caches, else ``kind`` on PATH."""
    cached = cache_root() / "kind" / f"kind-{KIND_VERSION}" / "kind"
    if os.access(cached, os.X_OK):
        return cached
    found = shutil.which("kind")
    if found:
        return Path(found)
    raise KindUnavailable(f"the kind CLI is not built ({cached} is missing); run {BUILD_SCRIPT}")


def docker_running() -> bool:
    """Whether a Docker Engine answers."""
    try:
        return subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


def image_present(image: str) -> bool:
    """Whether the Docker Engine holds IMAGE."""
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False).returncode == 0


def newest_image(repository: str, tag_prefix: str = "") -> str | None:
    """The newest ``REPOSITORY:TAG`` in the Docker Engine whose tag starts with ``tag_prefix``."""
    listed = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repository],
                            capture_output=True, text=True, check=False, timeout=60).stdout.split()
    return next((image for image in listed if image.split(":")[-1].startswith(tag_prefix)), None)  # newest first


def node_image() -> str:
    """``$EPPCONF_KIND_NODE_IMAGE``, else the locally built node image."""
    return os.environ.get(NODE_IMAGE_ENV) or LOCAL_NODE_IMAGE


def cluster_names() -> list[str]:
    """The kind clusters the Docker Engine runs."""
    return _run([str(kind_binary()), "get", "clusters"], "listing kind clusters").split()


def unavailable_reason(*, existing: str | None = None) -> str | None:
    """Why a cluster cannot be created here (or, given ``existing``, that one used), or None."""
    if not docker_running():
        return "no Docker Engine is running (start one with scripts/docker-engine.sh up)"
    if existing is not None:
        try:
            names = cluster_names()
        except (KindUnavailable, RuntimeError) as error:
            return str(error)
        if existing not in names:
            return f"no kind cluster named {existing} runs here (kind get clusters: {', '.join(names) or 'none'})"
        return None
    configured = os.environ.get(CONFIG_ENV)
    if configured and not Path(configured).is_file():
        return f"{CONFIG_ENV}={configured}: no such file"
    image = node_image()
    if not image_present(image):
        return f"node image {image} is not in Docker (build it with {BUILD_SCRIPT}, or set {NODE_IMAGE_ENV})"
    try:
        kind_binary()
    except KindUnavailable as error:
        return str(error)
    return None


@contextlib.contextmanager
def _one_creation_at_a_time() -> Iterator[None]:
    """Hold the machine-wide lock of cluster creations: kind's creations race on their shared
    Docker network, and a node's start is the heaviest part (on 2 cores, three side by side left
    one kubeadm without an API server)."""
    lock = cache_root() / "kind" / "create.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class KindCluster:
    """One kind cluster: ``start()`` creates it, ``stop()`` deletes it unless ``keep``."""

    def __init__(self, name: str = "eppconf", *, image: str | None = None, config: Path | None = None,
                 keep: bool = False) -> None:
        self.name = name
        self.image = image or node_image()
        self.config = config or Path(os.environ.get(CONFIG_ENV) or resource("kind-config.yaml"))
        self.keep = keep
        self._dir = Path(tempfile.mkdtemp(prefix=f"eppconf-kind-{name}-"))
        self.kubeconfig = self._dir / "kubeconfig"
        self.create_seconds: float | None = None
        self._attached = False

    def start(self) -> None:
        """Create the cluster (waiting for its control plane); its kubeconfig is ``kubeconfig``."""
        reason = unavailable_reason()
        if reason:
            raise KindUnavailable(reason)
        check_isolation()
        try:
            with _one_creation_at_a_time():
                started = time.monotonic()
                self._kind("create", "cluster", "--name", self.name, "--image", self.image, "--config",
                           str(self.config), "--kubeconfig", str(self.kubeconfig), "--wait", CREATE_WAIT,
                           what=f"creating kind cluster {self.name}")
        except BaseException:
            self.keep = False
            with contextlib.suppress(RuntimeError):  # kind deletes the nodes of a failed creation itself
                self.stop()
            raise
        self.create_seconds = time.monotonic() - started

    def attach(self) -> None:
        """Use the running cluster of this name instead of creating one; ``stop`` keeps it."""
        reason = unavailable_reason(existing=self.name)
        if reason:
            raise KindUnavailable(reason)
        self.keep = self._attached = True
        self.kubeconfig.write_text(self._kind("get", "kubeconfig", "--name", self.name,
                                              what=f"reading the kubeconfig of {self.name}"))

    def load_images(self, *images: str) -> None:
        """Copy IMAGES from the Docker Engine into the cluster's nodes, in one archive (the layers
        they share are copied once)."""
        self._kind("load", "docker-image", *images, "--name", self.name,
                   what=f"loading {', '.join(images)} into {self.name}")

    def stop(self) -> None:
        """Delete the cluster and its kubeconfig, unless the cluster is kept (an attached one's
        kubeconfig goes: the cluster has its own)."""
        if self._attached:
            shutil.rmtree(self._dir, ignore_errors=True)
        if self.keep:
            return
        try:
            self._kind("delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig),
                       what=f"deleting kind cluster {self.name}")
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def _kind(self, *args: str, what: str) -> str:
        return _run([str(kind_binary()), *args], what)

    def __enter__(self) -> KindCluster:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
