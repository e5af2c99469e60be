"""``ControlPlane``: etcd plus kube-apiserver, composed and torn down as one unit."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from eppconf.controlplane.apiserver import APIServer
from eppconf.controlplane.binaries import find_binaries
from eppconf.controlplane.certs import CertificateAuthority
from eppconf.controlplane.etcd import Etcd
from eppconf.controlplane.kubeconfig import write_kubeconfig
from eppconf.controlplane.process import ManagedProcess

#: The identity of the admin kubeconfig (member of ``system:masters``).
ADMIN_USER = "eppconf-admin"
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:@._-]*$")


class ControlPlaneError(RuntimeError):
    """Starting or stopping the control plane failed; the message says which part and why."""


class ControlPlane:
    """A local etcd and kube-apiserver (envtest style).

    ``bin_dir`` defaults to :func:`find_binaries`; ``work_dir`` (certificates,
    kubeconfigs, etcd data, logs under ``logs/``) defaults to a temp dir that
    :meth:`stop` removes. A given ``work_dir`` is kept. ``detached=True`` lets the
    processes outlive this Python process (``eppconf control-plane up``).
    ``startup_timeout`` (default 60 s) bounds each process's wait for readiness.
    """

    def __init__(
        self,
        bin_dir: Path | None = None,
        work_dir: Path | None = None,
        *,
        detached: bool = False,
        startup_timeout: float = 60.0,
    ) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir is not None else None
        self._given_work_dir = Path(work_dir) if work_dir is not None else None
        self.detached = detached
        self.startup_timeout = startup_timeout
        self.work_dir: Path | None = None
        self._ca: CertificateAuthority | None = None
        self._etcd: Etcd | None = None
        self._apiserver: APIServer | None = None
        self._admin_kubeconfig: Path | None = None

    def start(self) -> ControlPlane:
        """Start etcd, then the API server; on any failure undo what was started and re-raise."""
        if self._apiserver is not None:
            raise ControlPlaneError("control plane already started")
        bin_dir = self.bin_dir or find_binaries(None)
        self.work_dir = self._given_work_dir or Path(tempfile.mkdtemp(prefix="eppconf-cp-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._ca = CertificateAuthority()
            admin = self._ca.issue_client(user=ADMIN_USER, groups=["system:masters"])
            self._etcd = Etcd(
                binary=bin_dir / "etcd", work_dir=self.work_dir,
                startup_timeout=self.startup_timeout, detached=self.detached,
            )
            self._etcd.start()
            self._apiserver = APIServer(
                binary=bin_dir / "kube-apiserver", work_dir=self.work_dir, etcd_url=self._etcd.url,
                ca=self._ca, admin=admin, startup_timeout=self.startup_timeout, detached=self.detached,
            )
            self._apiserver.start()
            self._admin_kubeconfig = write_kubeconfig(
                self.work_dir / "admin.kubeconfig", server=self._apiserver.url,
                ca_pem=self._ca.cert_pem, client=admin, user=ADMIN_USER,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the API server, then etcd; remove the work dir if this object created it.

        Every step runs even when an earlier one fails; the failures are raised together.
        """
        errors = []
        for part in (self._apiserver, self._etcd):
            if part is None:
                continue
            try:
                part.stop()
            except Exception as error:
                errors.append(f"{part.process.name}: {error}")
        self._apiserver = self._etcd = None
        self._admin_kubeconfig = None
        if self.work_dir is not None and self._given_work_dir is None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        self.work_dir = None
        if errors:
            raise ControlPlaneError("stopping the control plane failed: " + "; ".join(errors))

    @property
    def processes(self) -> tuple[ManagedProcess, ...]:
        """The running processes, in start order."""
        return tuple(part.process for part in (self._etcd, self._apiserver) if part is not None)

    @property
    def server_url(self) -> str:
        """``https://127.0.0.1:<port>`` of the API server."""
        return self._started_apiserver().url

    @property
    def admin_kubeconfig(self) -> Path:
        """A kubeconfig for a ``system:masters`` user."""
        self._started_apiserver()
        assert self._admin_kubeconfig is not None
        return self._admin_kubeconfig

    def add_user(self, name: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig authenticating as user ``name`` in ``groups`` (authorised by RBAC only)."""
        apiserver = self._started_apiserver()
        if not _USER_NAME.match(name):
            raise ValueError(f"add_user: {name!r} is not a usable user name (letters, digits, ':@._-')")
        assert self._ca is not None and self.work_dir is not None
        client = self._ca.issue_client(user=name, groups=groups)
        path = self.work_dir / "users" / f"{name.replace(':', '_')}.kubeconfig"
        return write_kubeconfig(path, server=apiserver.url, ca_pem=self._ca.cert_pem, client=client, user=name)

    def _started_apiserver(self) -> APIServer:
        if self._apiserver is None or self._admin_kubeconfig is None:
            raise ControlPlaneError("control plane is not started")
        return self._apiserver

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
