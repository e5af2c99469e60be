"""Cluster providers: where the suite's pods and pools live, behind the ``Cluster`` protocol.

``LocalCluster`` starts its own etcd and kube-apiserver (``eppconf.controlplane``) and gives the
EPP its own identity bound to the ``eppconf-epp`` ClusterRole; ``ExistingCluster`` uses a
kubeconfig as is. Both make sure the InferencePool CRD is installed.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from kubernetes import client, config

from conformance import manifests
from conformance.options import ConformanceOptions, flag_name
from eppconf.controlplane import ControlPlane, CrdError, ensure_crds

EPP_USER = "eppconf-epp"
"""The identity an EPP runs as in local mode (see manifests/rbac.yaml)."""
POOL_GROUP, POOL_VERSION, POOL_PLURAL = "inference.networking.k8s.io", "v1", "inferencepools"


class ClusterError(RuntimeError):
    """The cluster cannot be used for the suite; the message says why and what to do."""


class Cluster(Protocol):
    """A Kubernetes API the suite can use."""

    mode: str
    """``local``, ``kind`` or ``existing``, as the report states it."""
    api: client.ApiClient
    """An admin client: creates namespaces, pods and pools, sets pod status."""
    epp_kubeconfig: Path
    """The kubeconfig handed to the EPP under test."""


class LocalCluster:
    """A control plane started for this run, torn down by ``close``."""

    mode = "local"

    def __init__(self, *, bin_dir: Path | None = None) -> None:
        self._control_plane = ControlPlane(bin_dir=bin_dir)
        self.api: client.ApiClient
        self.epp_kubeconfig: Path

    def start(self) -> None:
        """Start the control plane, install the CRD and the EPP's role; undo all on failure."""
        self._control_plane.start()
        try:
            self.api = config.new_client_from_config(str(self._control_plane.admin_kubeconfig))
            ensure_crd(self.api)
            _apply_rbac(self.api)
            self.epp_kubeconfig = self._control_plane.add_user(EPP_USER, [])
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the client and stop the control plane."""
        api = getattr(self, "api", None)
        if api is not None:
            api.close()
        self._control_plane.stop()


class ExistingCluster:
    """A cluster someone else runs, reached through a kubeconfig."""

    mode = "existing"

    def __init__(self, kubeconfig: Path) -> None:
        self.epp_kubeconfig = kubeconfig
        try:
            self.api = config.new_client_from_config(str(kubeconfig))
        except config.ConfigException as err:
            raise ClusterError(f"{flag_name('kubeconfig')} {kubeconfig}: {err}") from None

    def start(self) -> None:
        """Make sure the InferencePool CRD is there."""
        ensure_crd(self.api)

    def close(self) -> None:
        """Close the client; the cluster itself stays."""
        self.api.close()


@contextlib.contextmanager
def open_cluster(options: ConformanceOptions) -> Iterator[Cluster]:
    """The cluster ``options`` ask for, ready, and closed on exit."""
    cluster: LocalCluster | ExistingCluster
    if options.cluster == "existing":
        assert options.kubeconfig is not None  # checked by the options
        cluster = ExistingCluster(options.kubeconfig)
    else:
        cluster = LocalCluster(bin_dir=options.control_plane_bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


def ensure_crd(api: client.ApiClient) -> None:
    """Install the InferencePool CRD unless the API serves pools already.

    A missing permission (or any other install failure) is a ``ClusterError`` saying what to do.
    """
    if _pools_served(api):
        return
    try:
        ensure_crds(api, manifests.CRD_DIR)
    except CrdError as err:
        raise ClusterError(str(err)) from None


def _pools_served(api: client.ApiClient) -> bool:
    """Whether the API serves InferencePools; discovery is open to every authenticated user."""
    try:
        found = client.CustomObjectsApi(api).get_api_resources(POOL_GROUP, POOL_VERSION)
    except client.ApiException as err:
        if err.status == 404:
            return False
        raise ClusterError(f"API discovery of {POOL_GROUP}/{POOL_VERSION} failed:"
                           f" {err.status} {err.reason}") from None
    return any(resource.name == POOL_PLURAL for resource in found.resources)


def _apply_rbac(api: client.ApiClient) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    role, binding = manifests.load("rbac.yaml")
    rbac.create_cluster_role(role)
    rbac.create_cluster_role_binding(binding)


def create_namespace(api: client.ApiClient, *, prefix: str) -> str:
    """Create a namespace named ``<prefix>-<random>``."""
    name = f"{prefix[:50].rstrip('-')}-{secrets.token_hex(3)}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name, "labels": {"eppconf.dev/conformance": "true"}}})
    return name


def delete_namespace(api: client.ApiClient, name: str) -> None:
    """Delete the namespace (it may never finish terminating without a controller-manager)."""
    client.CoreV1Api(api).delete_namespace(name)
