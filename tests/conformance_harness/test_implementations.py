"""The catalogue of known EPP implementations: templates, binaries, lookup errors."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from conformance.implementations import (
    GIE_V1_5_0,
    GIE_V1_6_0,
    IMPLEMENTATIONS,
    LLMD_ROUTER,
    REFERENCE,
    ImplementationError,
    get_implementation,
)

PLACEHOLDERS = {"pool": "p", "namespace": "n", "grpc_port": 1, "grpc_health_port": 2, "metrics_port": 3,
                "kubeconfig": "/k", "python": "/py", "bind_address": "127.0.0.1"}


def test_reference_template_fills_every_placeholder() -> None:
    argv = [part.format(**PLACEHOLDERS) for part in shlex.split(REFERENCE.command_template())]
    assert argv == ["/py", "-m", "eppconf", "reference-epp", "--pool-name", "p", "--pool-namespace", "n",
                    "--grpc-port", "1", "--grpc-health-port", "2", "--metrics-port", "3",
                    "--bind-address", "127.0.0.1"]


def test_gie_template_uses_the_binary_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "my epp"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("EPPCONF_GIE_EPP", str(binary))
    argv = [part.format(**PLACEHOLDERS) for part in shlex.split(GIE_V1_5_0.command_template())]
    assert argv[0] == str(binary)
    assert argv[argv.index("--pool-name") + 1] == "p" and argv[argv.index("--grpc-health-port") + 1] == "2"
    assert "--metrics-endpoint-auth=false" in argv and "--kubeconfig" not in argv


def test_missing_binary_says_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EPPCONF_GIE_EPP", raising=False)
    monkeypatch.setenv("EPPCONF_CACHE", str(tmp_path))
    with pytest.raises(ImplementationError) as error:
        GIE_V1_5_0.command_template()
    message = str(error.value)
    assert str(tmp_path / "gie-epp" / "v1.5.0" / "epp") in message
    assert "`eppconf build gie-epp`" in message and "EPPCONF_GIE_EPP" in message


def test_lightweight_gie_epp_names_its_version_and_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EPPCONF_GIE_LWEPP", raising=False)
    monkeypatch.setenv("EPPCONF_CACHE", str(tmp_path))
    with pytest.raises(ImplementationError, match=r"gie-epp/v1\.6\.0/lwepp .*`eppconf build gie-epp v1\.6\.0 lwepp`"):
        GIE_V1_6_0.command_template()
    assert GIE_V1_6_0.health_service == "inference-extension"


def test_llmd_router_comes_only_from_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EPPCONF_LLMD_ROUTER_EPP", raising=False)
    monkeypatch.setenv("EPPCONF_CACHE", str(tmp_path))
    unset = r"^\$EPPCONF_LLMD_ROUTER_EPP is not set; build llm-d-router's cmd/epp"
    with pytest.raises(ImplementationError, match=unset):
        LLMD_ROUTER.command_template()
    binary = tmp_path / "epp"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("EPPCONF_LLMD_ROUTER_EPP", str(binary))
    assert shlex.split(LLMD_ROUTER.command_template())[0] == str(binary)


def test_lookup_by_name() -> None:
    assert list(IMPLEMENTATIONS) == ["reference", "gie-v1.5.0", "gie-v1.6.0", "llm-d-router"]
    assert get_implementation("gie-v1.5.0") is GIE_V1_5_0
    known = "reference, gie-v1.5.0, gie-v1.6.0, llm-d-router"
    with pytest.raises(ImplementationError, match=f"unknown EPP implementation 'envoy'; known: {known}"):
        get_implementation("envoy")
