"""``eppconf control-plane up|env|down``: a detached control plane round trip and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from eppconf.cli import main
from eppconf.controlplane import ControlPlane
from eppconf.controlplane.process import runs_executable, stop_detached


def _eppconf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "eppconf", "control-plane", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state dir whose recorded processes are stopped after the test, whatever happened."""
    state = tmp_path / "state"
    yield state
    state_file = state / "state.json"
    if state_file.exists():
        for process in json.loads(state_file.read_text())["processes"]:
            stop_detached(process["pid"], executable=process["executable"])


@pytest.mark.slow
def test_up_env_down_round_trip(control_plane: ControlPlane, state_dir: Path) -> None:
    up = _eppconf("up", "--state-dir", str(state_dir), "--control-plane-bin-dir", str(control_plane.bin_dir))
    assert up.returncode == 0, up.stderr
    state = json.loads((state_dir / "state.json").read_text())
    assert [p["name"] for p in state["processes"]] == ["etcd", "kube-apiserver"]
    assert all(runs_executable(p["pid"], p["executable"]) for p in state["processes"])

    env = _eppconf("env", "--state-dir", str(state_dir))
    assert env.returncode == 0, env.stderr
    kubeconfig = env.stdout.strip().removeprefix("export KUBECONFIG=")
    assert env.stdout == f"export KUBECONFIG={kubeconfig}\n" and Path(kubeconfig).is_file()
    api = config.new_client_from_config(config_file=kubeconfig)
    try:
        assert client.VersionApi(api).get_code().git_version == "v1.36.3"
    finally:
        api.close()

    down = _eppconf("down", "--state-dir", str(state_dir))
    assert down.returncode == 0, down.stderr
    assert "stopped kube-apiserver" in down.stdout and "stopped etcd" in down.stdout
    assert not state_dir.exists()
    assert not any(runs_executable(p["pid"], p["executable"]) for p in state["processes"])


def test_up_with_a_bad_bin_dir_says_how_to_get_binaries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["control-plane", "up", "--state-dir", str(tmp_path / "state"),
                 "--control-plane-bin-dir", str(tmp_path / "nowhere")])
    error = capsys.readouterr().err
    assert code == 1
    assert "--control-plane-bin-dir" in error and "KUBEBUILDER_ASSETS" in error
    assert "build-control-plane.sh" in error


def test_env_and_down_without_state_fail_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["control-plane", "env", "--state-dir", str(tmp_path / "none")]) == 1
    assert f"no control plane recorded in {tmp_path / 'none'}" in capsys.readouterr().err
    assert main(["control-plane", "down", "--state-dir", str(tmp_path / "none")]) == 1
    assert "no control plane recorded" in capsys.readouterr().err


def test_up_refuses_a_state_dir_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.json").write_text('{"processes": []}')
    assert main(["control-plane", "up", "--state-dir", str(state)]) == 1
    assert "already records a control plane" in capsys.readouterr().err


def test_a_corrupt_state_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "state.json").write_text("{not json")
    assert main(["control-plane", "env", "--state-dir", str(tmp_path)]) == 1
    assert f"{tmp_path / 'state.json'}: not valid JSON" in capsys.readouterr().err
