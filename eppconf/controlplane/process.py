"""``ManagedProcess``: the one way eppconf starts and stops an external process.

A managed process runs in its own process group with its output in a log file. Start
blocks until a readiness check passes, and fails fast (exit code plus the tail of the
output) when the process exits first. Stop sends SIGTERM to the whole group, then
SIGKILL after a timeout, always by process-group id, never by name. Unless started
``detached``, the kernel kills the process when its starting thread dies and an
``atexit`` hook stops whatever is still running, so nothing outlives the Python process.
"""

from __future__ import annotations

import atexit
import errno
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

#: A readiness check: returns True once the process serves; may raise while it does not.
ReadyCheck = Callable[[], bool]

#: Seconds between two readiness checks or two liveness checks while stopping.
POLL_INTERVAL = 0.05
#: Lines of output quoted in a start failure.
TAIL_LINES = 30
_LIVE: dict[int, ManagedProcess] = {}


class ProcessStartError(RuntimeError):
    """A managed process could not start, exited early or was not ready in time."""


def http_ready(url: str, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 1.0) -> ReadyCheck:
    """A readiness check that passes when ``GET url`` answers 200."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=timeout, context=ssl_context) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError as error:
            error.close()  # it holds the open response
            return False

    return check


class ManagedProcess:
    """One external process: started in a new process group, stopped with its whole group.

    ``ready`` is a :data:`ReadyCheck`, an ``http(s)://`` URL polled with ``GET``, or
    None (ready as soon as it runs). ``startup_timeout`` (default 30 s) bounds the wait
    for readiness; ``stop_timeout`` (default 10 s) is the grace between SIGTERM and
    SIGKILL. ``detached=True`` lets the process outlive this Python process (no
    parent-death signal, no ``atexit`` stop); otherwise it is killed when the thread
    that started it exits, so start long-lived processes from a long-lived thread.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready: ReadyCheck | str | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        detached: bool = False,
    ) -> None:
        if not argv:
            raise ValueError(f"{name}: empty argv")
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.log_path = Path(log_dir) / f"{name}.log"
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.ready = http_ready(ready) if isinstance(ready, str) else ready
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.detached = detached
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The process id (also its process-group id), None before start."""
        return self._popen.pid if self._popen else None

    @property
    def running(self) -> bool:
        """True between a successful start and the process ending."""
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has ended (negative: the signal that ended it); None
        before start and while it runs."""
        return self._popen.poll() if self._popen is not None else None

    def start(self) -> ManagedProcess:
        """Start the process and wait until it is ready; raises :class:`ProcessStartError`."""
        if self._popen is not None:
            raise RuntimeError(f"{self.name} was already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.log_path.open("ab") as log:
                self._popen = subprocess.Popen(
                    self.argv if self.detached else _with_death_signal(self.argv, self.env, self.cwd),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                )
        except OSError as error:
            raise ProcessStartError(f"{self.name}: cannot run {self.argv[0]}: {error}") from error
        if not self.detached:
            _LIVE[self._popen.pid] = self
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._popen is not None
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while True:
            code = self._popen.poll()
            if code is not None:
                raise ProcessStartError(
                    f"{self.name} exited with code {code} before it was ready; {self._tail_text()}"
                )
            try:
                if self.ready is None or self.ready():
                    return
            except Exception as error:  # a check raises while the server is not up yet
                last_error = error
            if time.monotonic() >= deadline:
                because = f" (last check: {last_error})" if last_error else ""
                raise ProcessStartError(
                    f"{self.name} was not ready within {self.startup_timeout:g} s{because}; {self._tail_text()}"
                )
            time.sleep(POLL_INTERVAL)

    def output_tail(self, lines: int = TAIL_LINES) -> str:
        """The last ``lines`` lines the process wrote."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _tail_text(self) -> str:
        return f"last output ({self.log_path}):\n{self.output_tail()}"

    def stop(self) -> None:
        """Stop the process group (SIGTERM, SIGKILL after ``stop_timeout``); idempotent."""
        popen = self._popen
        if popen is None:
            return
        _LIVE.pop(popen.pid, None)
        if popen.returncode is None:
            stop_process_group(popen.pid, timeout=self.stop_timeout)
        popen.wait()

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def stop_process_group(pgid: int, *, timeout: float) -> None:
    """SIGTERM every process of group ``pgid``; SIGKILL what is left after ``timeout`` s."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    if _wait_group_gone(pgid, timeout):
        return
    _signal_group(pgid, signal.SIGKILL)
    _wait_group_gone(pgid, timeout)


def stop_detached(pid: int, *, executable: str, timeout: float = 10.0) -> bool:
    """Stop a detached process group by its leader's pid, if that pid still runs ``executable``.

    The check guards against a recycled pid. Returns whether a process was stopped.
    """
    if not runs_executable(pid, executable):
        return False
    stop_process_group(pid, timeout=timeout)
    return True


def runs_executable(pid: int, executable: str) -> bool:
    """True while ``pid`` is alive (not a zombie) and was started as ``executable``."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return argv0 == executable and _live_state(pid)


def _live_state(pid: int) -> bool:
    """True unless ``pid`` is gone or a zombie (nobody may reap an orphan promptly)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL)
    return True


def _signal_group(pgid: int, signum: signal.Signals) -> bool:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def _with_death_signal(argv: list[str], env: Mapping[str, str] | None, cwd: Path | None) -> list[str]:
    """``argv`` run through ``setpriv --pdeathsig KILL``: the kernel kills it when its starting thread dies.

    Not a ``preexec_fn``: that makes ``subprocess`` use a plain ``fork()``, which runs gRPC's
    fork handlers; they restart gRPC's poller thread in the child, and the child aborts
    ("epoll_wait error: Bad file descriptor") when ``close_fds`` closes the poller's epoll fd
    before ``exec``. Without a ``preexec_fn`` the child is spawned with ``vfork()``, which runs
    no fork handlers.
    """
    if not _is_executable(argv[0], env, cwd):
        raise FileNotFoundError(errno.ENOENT, "no such executable", argv[0])
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise FileNotFoundError(errno.ENOENT, "setpriv (util-linux) is needed to tie it to its parent", "setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


def _is_executable(program: str, env: Mapping[str, str] | None, cwd: Path | None) -> bool:
    """True when ``program`` names an executable (searched on ``env``'s PATH unless it has a slash)."""
    if os.sep in program:
        path = Path(cwd or ".") / program
        return path.is_file() and os.access(path, os.X_OK)
    return shutil.which(program, path=os.pathsep.join(os.get_exec_path(env))) is not None


@atexit.register
def _stop_all() -> None:
    for process in reversed(list(_LIVE.values())):
        process.stop()
