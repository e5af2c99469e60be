"""``eppconf fake-server`` as a process: readiness, many ports, clean stop, exit 2 on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_helpers import http, scrape

from eppconf.controlplane import ProcessStartError, reserve_port
from fakes import FakeRuntime, FakeServerProcess


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "eppconf", "fake-server", *args], capture_output=True,
                          text=True, timeout=30)


def test_process_serves_every_port_with_its_config(tmp_path: Path) -> None:
    ports = [reserve_port("127.0.0.12") for _ in range(3)]
    config = tmp_path / "ports.yaml"
    config.write_text(f'"{ports[2]}": {{models: [special]}}\n')
    with FakeServerProcess(ports, host="127.0.0.12", args=["--model", "m", "--config", str(config)]) as server:
        assert server.pid is not None
        names = [scrape(f"http://127.0.0.12:{p}")["vllm:num_requests_running"][0][0]["model_name"] for p in ports]
        assert names == ["m", "m", "special"]
        server.control(ports[0]).set_metrics(waiting=4)
        assert scrape(f"http://127.0.0.12:{ports[0]}")["vllm:num_requests_waiting"][0][1] == 4
        pid = server.pid
    assert server.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_port_in_use_exits_2_with_one_clear_line(runtime: FakeRuntime) -> None:
    taken = runtime.serve("127.0.0.12", 0)
    result = _run("--host", "127.0.0.12", "--ports", str(taken.port))
    assert result.returncode == 2
    assert result.stderr.strip() == f"eppconf fake-server: error: 127.0.0.12:{taken.port} is already in use"


@pytest.mark.parametrize(("args", "says"), [
    (["--ports", "80-70"], "ends before it starts"),
    (["--ports", "8000", "--max-num-seqs", "0"], "max_num_seqs must be a positive integer"),
    (["--ports", "8000", "--config", "/nonexistent.yaml"], "cannot read --config"),
    (["--ports", "8000", "--time-to-first-token", "soon"], "invalid float value"),
    ([], "--ports is required without --pod-control-port"),
])
def test_bad_flags_exit_2(args: list[str], says: str) -> None:
    result = _run(*args)
    assert result.returncode == 2
    assert says in result.stderr and "Traceback" not in result.stderr


def test_process_that_dies_early_reports_its_output(runtime: FakeRuntime) -> None:
    taken = runtime.serve("127.0.0.12", 0)
    server = FakeServerProcess([taken.port], host="127.0.0.12")
    with pytest.raises(ProcessStartError, match="is already in use"):
        server.start()
    assert server.pid is None, "a failed start leaves no process behind"


def test_models_endpoint_over_the_process() -> None:
    port = reserve_port("127.0.0.12")
    with FakeServerProcess([port], host="127.0.0.12", args=["--lora", "ad"]):
        status, body = http("GET", f"http://127.0.0.12:{port}/v1/models")
    assert status == 200 and [m["id"] for m in json.loads(body)["data"]] == ["fake-model", "ad"]
