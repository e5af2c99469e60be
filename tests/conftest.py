"""Fixtures shared by every test folder: one local control plane per test session (per
pytest-xdist worker) and an admin Kubernetes client for it.

Without binaries the control-plane tests are skipped, except in CI (``CI`` set), where a
missing binary fails them with the message saying how to provide it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from eppconf.controlplane import BinariesNotFound, ControlPlane, ensure_crds, find_binaries


def _explicit_bin_dir(pytest_config: pytest.Config) -> Path | None:
    """``--control-plane-bin-dir`` when the conformance plugin that declares it is loaded."""
    value = pytest_config.getoption("conformance_control_plane_bin_dir", default=None)
    return Path(value) if value else None


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """A started :class:`ControlPlane`, stopped (with its temp dir removed) at session end."""
    try:
        bin_dir = find_binaries(_explicit_bin_dir(request.config))
    except BinariesNotFound as error:
        if os.environ.get("CI"):
            pytest.fail(str(error), pytrace=False)
        pytest.skip(str(error))
    with ControlPlane(bin_dir=bin_dir) as plane:
        yield plane


@pytest.fixture(scope="session")
def admin_api(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    """A Kubernetes client authenticated as the control plane's ``system:masters`` admin."""
    api = config.new_client_from_config(config_file=str(control_plane.admin_kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def namespace(admin_api: client.ApiClient) -> Iterator[str]:
    """A fresh namespace on the control plane, with the InferencePool CRD installed; deleted after."""
    ensure_crds(admin_api)
    core = client.CoreV1Api(admin_api)
    name = f"test-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        core.delete_namespace(name)
