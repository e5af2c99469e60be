"""find_binaries: flag, then KUBEBUILDER_ASSETS, then the cache; one clear message otherwise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eppconf.controlplane import BUILD_SCRIPT, KUBERNETES_VERSION, BinariesNotFound, find_binaries


def _bin_dir(path: Path, *names: str) -> Path:
    path.mkdir(parents=True)
    for name in names:
        (path / name).write_text("#!/bin/sh\n")
        (path / name).chmod(0o755)
    return path


def test_explicit_then_assets_then_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cached = _bin_dir(cache / "control-plane" / f"k8s-{KUBERNETES_VERSION}", "etcd", "kube-apiserver")
    assets = _bin_dir(tmp_path / "assets", "etcd", "kube-apiserver")
    explicit = _bin_dir(tmp_path / "explicit", "etcd", "kube-apiserver")
    environ = {"EPPCONF_CACHE": str(cache), "KUBEBUILDER_ASSETS": str(assets)}
    assert find_binaries(explicit, environ=environ) == explicit
    assert find_binaries(None, environ=environ) == assets
    assert find_binaries(None, environ={"EPPCONF_CACHE": str(cache)}) == cached


def test_missing_everywhere_names_flag_variable_and_script(tmp_path: Path) -> None:
    with pytest.raises(BinariesNotFound) as failure:
        find_binaries(None, environ={"EPPCONF_CACHE": str(tmp_path / "empty")})
    message = str(failure.value)
    assert "--control-plane-bin-dir" in message
    assert "KUBEBUILDER_ASSETS" in message
    assert str(BUILD_SCRIPT) in message
    assert "`eppconf build control-plane`" in message
    assert str(tmp_path / "empty") in message


def test_a_given_directory_lacking_a_binary_is_not_skipped_over(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _bin_dir(cache / "control-plane" / f"k8s-{KUBERNETES_VERSION}", "etcd", "kube-apiserver")
    partial = _bin_dir(tmp_path / "partial", "etcd")
    with pytest.raises(BinariesNotFound, match=r"--control-plane-bin-dir: .*partial: missing kube-apiserver"):
        find_binaries(partial, environ={"EPPCONF_CACHE": str(cache)})


def test_pinned_version_matches_the_build_scripts() -> None:
    script = (BUILD_SCRIPT.parent / "lib" / "gobuild.sh").read_text()
    pinned = re.search(r'KUBERNETES_VERSION="\$\{KUBERNETES_VERSION:-(v[0-9.]+)\}"', script)
    assert pinned is not None and pinned.group(1) == KUBERNETES_VERSION
    minor = int(KUBERNETES_VERSION.split(".")[1])
    assert 34 <= minor <= 36
