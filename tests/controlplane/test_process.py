"""ManagedProcess: readiness, failing fast, stopping the whole process group, no leftovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from eppconf.controlplane import ManagedProcess, ProcessStartError, reserve_port
from eppconf.controlplane.process import runs_executable


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _wait_dead(pid: int, timeout: float = 5.0) -> bool:
    return _wait_for(lambda: not _alive(pid), timeout)


def test_ready_url_and_log(tmp_path: Path) -> None:
    port = reserve_port()
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    with ManagedProcess("http", argv, log_dir=tmp_path, cwd=tmp_path,
                        ready=f"http://127.0.0.1:{port}/", startup_timeout=20) as process:
        assert process.running
        assert process.pid is not None and os.getpgid(process.pid) == process.pid
        pid = process.pid
    assert not process.running
    assert not _alive(pid)
    assert "GET /" in (tmp_path / "http.log").read_text()


def test_exit_before_ready_fails_fast_with_code_and_output(tmp_path: Path) -> None:
    process = ManagedProcess("crasher", ["sh", "-c", "echo something went wrong; exit 3"],
                             log_dir=tmp_path, ready=lambda: False, startup_timeout=30)
    started = time.monotonic()
    with pytest.raises(ProcessStartError) as failure:
        process.start()
    assert time.monotonic() - started < 5
    message = str(failure.value)
    assert "crasher exited with code 3" in message
    assert "something went wrong" in message


def test_not_ready_in_time_is_stopped(tmp_path: Path) -> None:
    process = ManagedProcess("sleeper", ["sleep", "300"], log_dir=tmp_path,
                             ready=lambda: False, startup_timeout=0.3)
    with pytest.raises(ProcessStartError, match=r"sleeper was not ready within 0.3 s"):
        process.start()
    assert process.pid is not None and not _alive(process.pid)


def test_missing_executable_is_a_start_error(tmp_path: Path) -> None:
    with pytest.raises(ProcessStartError, match="cannot run /nonexistent/server"):
        ManagedProcess("ghost", ["/nonexistent/server"], log_dir=tmp_path).start()


def test_a_program_found_on_path_in_env_is_run(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "serve-here"
    program.write_text("#!/bin/sh\necho serving; exec sleep 300\n")
    program.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    with ManagedProcess("here", ["serve-here"], log_dir=tmp_path, env=env) as process:
        assert process.running
    with pytest.raises(ProcessStartError, match="cannot run serve-here"):
        ManagedProcess("there", ["serve-here"], log_dir=tmp_path).start()


def test_starting_processes_runs_no_grpc_fork_handlers(tmp_path: Path) -> None:
    # gRPC's fork handlers restart its poller in a forked child, which aborts when close_fds
    # closes the poller's epoll fd before exec; they log this line when another thread is in gRPC.
    program = textwrap.dedent(f"""
        import threading
        from concurrent import futures
        from pathlib import Path
        import grpc
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc
        from eppconf.controlplane import ManagedProcess
        server = grpc.server(futures.ThreadPoolExecutor(2))
        health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{{port}}"))
        stub.Check(health_pb2.HealthCheckRequest())
        def busy():
            while True:
                stub.Check(health_pb2.HealthCheckRequest())
        threading.Thread(target=busy, daemon=True).start()
        for _ in range(20):
            with ManagedProcess("child", ["sleep", "300"], log_dir=Path({str(tmp_path)!r})):
                pass
        print("started 20", flush=True)
    """)
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "started 20", run.stderr[-2000:]
    assert "fork()" not in run.stderr, run.stderr[-2000:]


def _group_with_child(tmp_path: Path, *, ignore_term: bool, stop_timeout: float) -> tuple[ManagedProcess, int]:
    trap = "trap '' TERM; " if ignore_term else ""
    child_pid_file = tmp_path / "child.pid"
    script = f"{trap}sleep 300 & echo $! > {child_pid_file}; wait"
    process = ManagedProcess("group", ["sh", "-c", script], log_dir=tmp_path,
                             ready=child_pid_file.exists, stop_timeout=stop_timeout)
    process.start()
    time.sleep(0.05)  # the pid file may be created before it is written
    return process, int(child_pid_file.read_text())


def test_stop_terminates_the_whole_group(tmp_path: Path) -> None:
    process, child = _group_with_child(tmp_path, ignore_term=False, stop_timeout=10)
    assert _alive(child)
    process.stop()
    assert _wait_dead(child)
    process.stop()  # idempotent


def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    process, child = _group_with_child(tmp_path, ignore_term=True, stop_timeout=0.5)
    started = time.monotonic()
    process.stop()
    assert time.monotonic() - started < 5
    assert _wait_dead(child)


def test_process_dies_with_the_python_that_started_it(tmp_path: Path) -> None:
    program = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from eppconf.controlplane import ManagedProcess
        process = ManagedProcess("orphan", ["sleep", "300"], log_dir=Path({str(tmp_path)!r})).start()
        print(process.pid, flush=True)
        time.sleep(300)
    """)
    parent = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _wait_for(lambda: runs_executable(child, "sleep"))
        parent.send_signal(signal.SIGKILL)
        assert _wait_dead(child)
    finally:
        parent.kill()
        parent.wait()
        assert parent.stdout is not None
        parent.stdout.close()
