"""scripts/lib/oci-caps-runtime.py: the runc front that drops capabilities the host cannot grant."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from eppconf.resources import resource

WRAPPER = resource("scripts/lib/oci-caps-runtime.py")
#: A bounding set without CAP_SYS_RESOURCE (bit 24), as on the VMs the wrapper is for.
STATUS = "Name:\tx\nCapBnd:\t000001fffeffffff\n"
ALL = ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_BPF"]


@pytest.fixture(scope="module")
def wrapper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("oci_caps_runtime", WRAPPER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_capabilities_come_from_the_bounding_set(wrapper: ModuleType) -> None:
    assert wrapper.missing_capabilities(STATUS) == {"CAP_SYS_RESOURCE"}
    assert wrapper.missing_capabilities("CapBnd:\t000001ffffffffff\n") == set()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--root", "/r", "--log", "/l", "--log-format", "json", "create", "--bundle", "/b", "id"], "/b/config.json"),
        (["--systemd-cgroup", "run", "-b=/b", "id"], "/b/config.json"),
        (["--root", "/r", "exec", "--process", "/tmp/p.json", "--detach", "id"], "/tmp/p.json"),
        (["--root", "/r", "create", "id"], "config.json"),
        (["--root", "/r", "start", "id"], None),
        (["--version"], None),
    ],
)
def test_spec_file_of_each_command(wrapper: ModuleType, args: list[str], expected: str | None) -> None:
    path = wrapper.spec_file(*wrapper.command_and_options(args))
    assert (str(path) if path else None) == expected


def _fake_runc(tmp_path: Path) -> Path:
    runc = tmp_path / "runc"
    runc.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/args\n')
    runc.chmod(0o755)
    return runc


def _missing_here(wrapper: ModuleType) -> set[str]:
    return wrapper.missing_capabilities(Path("/proc/self/status").read_text())


def _run(tmp_path: Path, *args: str) -> list[str]:
    env = {**os.environ, "EPPCONF_RUNC": str(_fake_runc(tmp_path))}
    subprocess.run([sys.executable, str(WRAPPER), *args], env=env, check=True)
    return (tmp_path / "args").read_text().splitlines()


def test_create_trims_the_bundle_config_and_passes_arguments_on(wrapper: ModuleType, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    sets = {name: list(ALL) for name in ("bounding", "effective", "permitted")}
    (bundle / "config.json").write_text(json.dumps({"ociVersion": "1.0.2", "process": {"capabilities": sets}}))
    args = ["--root", "/r", "create", "--bundle", str(bundle), "id"]
    assert _run(tmp_path, *args) == args
    trimmed = json.loads((bundle / "config.json").read_text())["process"]["capabilities"]
    assert trimmed == {name: [c for c in ALL if c not in _missing_here(wrapper)] for name in sets}


def test_exec_trims_the_process_spec(wrapper: ModuleType, tmp_path: Path) -> None:
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh"], "capabilities": {"bounding": list(ALL)}}))
    _run(tmp_path, "exec", "--process", str(process), "id")
    expected = [c for c in ALL if c not in _missing_here(wrapper)]
    assert json.loads(process.read_text())["capabilities"]["bounding"] == expected
