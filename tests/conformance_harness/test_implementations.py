"""The catalogue of known EPP implementations: templates, binaries, lookup errors."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from conformance.implementations import GIE_V1_5_0, IMPLEMENTATIONS, REFERENCE, ImplementationError, get_implementation

PLACEHOLDERS = {"pool": "p", "namespace": "n", "grpc_port": 1, "grpc_health_port": 2, "metrics_port": 3,
                "kubeconfig": "/k", "python": "/py"}


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
    assert "bash scripts/build-gie-epp.sh" in message and "EPPCONF_GIE_EPP" in message


def test_lookup_by_name() -> None:
    assert set(IMPLEMENTATIONS) == {"reference", "gie-v1.5.0"}
    assert get_implementation("gie-v1.5.0") is GIE_V1_5_0
    with pytest.raises(ImplementationError, match="unknown EPP implementation 'envoy'; known: reference, gie-v1.5.0"):
        get_implementation("envoy")
