"""etcd as a single-member, plain-HTTP, loopback-only process (as envtest runs it)."""

from __future__ import annotations

from pathlib import Path

from eppconf.controlplane.ports import reserve_port
from eppconf.controlplane.process import ManagedProcess

#: Loopback address etcd binds to.
ETCD_HOST = "127.0.0.1"


class Etcd:
    """One etcd member keeping its data under ``work_dir/etcd`` and its log under ``work_dir/logs``."""

    def __init__(
        self, *, binary: Path, work_dir: Path, startup_timeout: float = 30.0, detached: bool = False
    ) -> None:
        client_port, peer_port = reserve_port(ETCD_HOST), reserve_port(ETCD_HOST)
        self.url = f"http://{ETCD_HOST}:{client_port}"
        peer_url = f"http://{ETCD_HOST}:{peer_port}"
        self.process = ManagedProcess(
            "etcd",
            [
                str(binary),
                f"--data-dir={work_dir / 'etcd'}",
                f"--listen-client-urls={self.url}",
                f"--advertise-client-urls={self.url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                # A throw-away test store: durability is not worth the fsync latency.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            log_dir=work_dir / "logs",
            ready=f"{self.url}/health",
            startup_timeout=startup_timeout,
            detached=detached,
        )

    def start(self) -> None:
        """Start etcd and wait until ``/health`` answers."""
        self.process.start()

    def stop(self) -> None:
        """Stop etcd; idempotent."""
        self.process.stop()
