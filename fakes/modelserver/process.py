"""``FakeServerProcess``: ``eppconf fake-server`` as a child process with a readiness wait and a sure stop."""

from __future__ import annotations

import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from eppconf.controlplane import ManagedProcess
from fakes.modelserver.cli import READY_LINE
from fakes.modelserver.control import ControlClient


class FakeServerProcess:
    """Runs ``python -m eppconf fake-server`` on ``host`` and ``ports`` with extra CLI ``args``.

    Built on ``ManagedProcess``: ``start()`` returns once the process says it serves and every
    port answers ``/health`` (``startup_timeout`` seconds, default 20) and raises
    ``ProcessStartError`` with the end of its output otherwise; ``stop()`` sends SIGTERM to the
    process group, then SIGKILL after ``stop_timeout`` (default 5).
    """

    def __init__(self, ports: Sequence[int], *, host: str = "127.0.0.1", args: Sequence[str] = (),
                 startup_timeout: float = 20.0, stop_timeout: float = 5.0) -> None:
        if not ports:
            raise ValueError("FakeServerProcess needs at least one port")
        self.host = host
        self.ports = list(ports)
        self.args = list(args)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._process: ManagedProcess | None = None
        self._log_dir: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> FakeServerProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def command(self) -> list[str]:
        ports = ",".join(str(p) for p in self.ports)
        return [sys.executable, "-m", "eppconf", "fake-server", "--host", self.host, "--ports", ports, *self.args]

    def control(self, port: int) -> ControlClient:
        """A control client for one of the ports."""
        return ControlClient(f"http://{self.host}:{port}")

    def start(self) -> None:
        if self._process is not None:
            return
        self._log_dir = tempfile.TemporaryDirectory(prefix="eppconf-fake-server-")
        process = ManagedProcess("fake-server", self.command, log_dir=Path(self._log_dir.name),
                                 ready=self._ready, startup_timeout=self.startup_timeout,
                                 stop_timeout=self.stop_timeout)
        self._process = process
        try:
            process.start()
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        assert self._process is not None
        return READY_LINE in self._process.output_tail() and all(_healthy(self.host, p) for p in self.ports)

    def output_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines the process wrote."""
        return "" if self._process is None else self._process.output_tail(lines)

    def stop(self) -> None:
        """Stop the process group and remove its log; safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            process.stop()
        if self._log_dir is not None:
            self._log_dir.cleanup()
            self._log_dir = None


def _healthy(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
