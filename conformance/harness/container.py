"""``ContainerEpp``: the EPP under test as a Docker container of its image, with host networking.

The virtual-pod topology with ``--epp-image``: the container shares the host's network, so it
reaches the API server and the fake pods on their 127.x addresses, and the gateway client reaches
it on 127.0.0.1 as it reaches a process. ``docker run`` stays attached: its output (what
``docker logs`` shows) goes to the launcher's log file, which outlives the ``--rm`` container,
and its exit code is the container's. Containers are removed by the id ``docker run`` wrote,
never by name.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from conformance.harness.epp import EppPorts, ProcessEppInstance, placeholder_values, serving_check
from conformance.implementations import EXT_PROC_HEALTH_SERVICE, fill_command
from eppconf.controlplane import ManagedProcess

KUBECONFIG_IN_CONTAINER = "/var/run/eppconf/kubeconfig"
"""Where the container finds the kubeconfig (mounted read-only; ``KUBECONFIG`` names it too)."""
PYTHON_IN_CONTAINER = "python3"
"""What ``{python}`` stands for in an argument template: the interpreter on the image's PATH."""
DOCKER_START_SCRIPT = "scripts/docker-engine.sh up"
"""How this project starts Docker Engine."""
DOCKER_TIMEOUT = 60.0
"""Seconds one ``docker`` command other than ``docker run`` may take."""
DOCKER_START_ALLOWANCE = 30.0
"""Seconds added to the EPP's start timeout for Docker to create and start its container (on a
loaded machine that, and the cold start of an image's interpreter, took several seconds)."""
_LIVE: set[tuple[str, Path]] = set()
"""(docker CLI, id file) of every container started and not yet removed."""


def docker_problem(image: str, docker: str = "docker") -> str | None:
    """Why ``image`` cannot be run here (no Docker CLI, Docker Engine not running, image not
    present locally), or ``None`` when it can."""
    if shutil.which(docker) is None:
        return f"the Docker CLI ({docker}) is not installed; {DOCKER_START_SCRIPT} installs and starts Docker Engine"
    engine = _docker(docker, "version", "--format", "{{.Server.Version}}")
    if engine.returncode != 0:
        return (f"Docker Engine is not running ({_first_line(engine.stderr)}); start it with"
                f" {DOCKER_START_SCRIPT}")
    if _docker(docker, "image", "inspect", "--format", "{{.Id}}", image).returncode != 0:
        return (f"image {image} is not present in the local Docker Engine (no registry is pulled from);"
                " build or load it first (scripts/build-images.sh builds this project's images)")
    return None


@dataclass
class ContainerEppInstance(ProcessEppInstance):
    """An EPP container started by ``ContainerEpp``; ``process`` is its attached ``docker run``,
    whose exit code is the container's (125: Docker could not run it)."""

    docker: str = "docker"
    cid_file: Path | None = None

    def stop(self) -> None:
        """Remove the container by its id (it gets SIGKILL), then reap ``docker run``."""
        if self.cid_file is not None:
            remove_container(self.docker, self.cid_file)
        self.process.stop()


class ContainerEpp:
    """Starts an EPP as a container of ``image`` from an argument template.

    ``args`` follows the image's entrypoint; it has the placeholders of ``--epp-command``, with
    ``{kubeconfig}`` the path inside the container and ``{python}`` ``python3``. Readiness is the
    gRPC health check of ``ProcessEpp``; ``docker run`` gets ``startup_timeout`` plus
    ``DOCKER_START_ALLOWANCE`` to pass it.
    """

    def __init__(self, image: str, args: str, *, log_dir: Path, name: str = "epp", tls: bool | None = None,
                 health_service: str = EXT_PROC_HEALTH_SERVICE, startup_timeout: float = 30.0,
                 docker: str = "docker") -> None:
        self.image = image
        self.args = args
        self.log_dir = log_dir
        self.name = name
        self.tls = tls
        self.health_service = health_service
        self.startup_timeout = startup_timeout
        self.docker = docker

    def command(self, *, container: str, pool: str, namespace: str, kubeconfig: Path, ports: EppPorts,
                cid_file: Path) -> list[str]:
        """The ``docker run`` argv of one start."""
        values = placeholder_values(pool=pool, namespace=namespace, ports=ports,
                                    kubeconfig=KUBECONFIG_IN_CONTAINER, python=PYTHON_IN_CONTAINER)
        return [self.docker, "run", "--rm", "--name", container, "--cidfile", str(cid_file),
                "--network", "host", "--label", f"eppconf.dev/namespace={namespace}",
                "--label", f"eppconf.dev/harness-pid={os.getpid()}",
                "--volume", f"{kubeconfig}:{KUBECONFIG_IN_CONTAINER}:ro",
                "--env", f"KUBECONFIG={KUBECONFIG_IN_CONTAINER}", self.image, *fill_command(self.args, values)]

    def start(self, *, pool: str, namespace: str, kubeconfig: Path,
              wait_until_serving: bool = True) -> ContainerEppInstance:
        """Run the container and wait until it serves (see ``ProcessEpp.start``); a failed start
        removes the container and raises ``ProcessStartError`` with its last output."""
        ports = EppPorts.reserve()
        container = f"eppconf-{self.name}-{namespace}-{pool}"
        cid_file = self.log_dir / f"{container}.cid"
        argv = self.command(container=container, pool=pool, namespace=namespace,
                            kubeconfig=self._readable_copy(kubeconfig, container), ports=ports, cid_file=cid_file)
        process = ManagedProcess(container, argv, log_dir=self.log_dir,
                                 ready=serving_check(ports, self.health_service, wait_until_serving),
                                 startup_timeout=self.startup_timeout + DOCKER_START_ALLOWANCE)
        _LIVE.add((self.docker, cid_file))
        try:
            process.start()
        except BaseException:
            remove_container(self.docker, cid_file)
            raise
        return ContainerEppInstance(process=process, grpc_target=f"127.0.0.1:{ports.grpc}", tls=self.tls,
                                    docker=self.docker, cid_file=cid_file)

    def _readable_copy(self, kubeconfig: Path, container: str) -> Path:
        """A copy of ``kubeconfig`` any user of the image may read (the original is 0600), in the
        launcher's private log folder."""
        copy = self.log_dir / f"{container}.kubeconfig"
        shutil.copyfile(kubeconfig, copy)
        copy.chmod(0o644)
        return copy


def remove_container(docker: str, cid_file: Path) -> None:
    """``docker rm --force`` the container whose id ``docker run`` wrote to ``cid_file``, if any."""
    _LIVE.discard((docker, cid_file))
    try:
        container_id = cid_file.read_text().strip()
    except FileNotFoundError:
        return
    if container_id:
        _docker(docker, "rm", "--force", container_id)
    cid_file.unlink(missing_ok=True)


def _docker(docker: str, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([docker, *args], capture_output=True, text=True, timeout=DOCKER_TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess([docker, *args], 1, "", f"docker {args[0]} timed out")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no output")


@atexit.register
def _remove_live() -> None:
    """Remove every container still running when Python exits (a stop that never came)."""
    for docker, cid_file in list(_LIVE):
        remove_container(docker, cid_file)
