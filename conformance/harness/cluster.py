"""Cluster providers: where the suite's pods and pools live, behind the ``Cluster`` protocol.

``LocalCluster`` starts its own etcd and kube-apiserver (``eppconf.controlplane``) and gives the
EPP its own identity bound to the ``eppconf-epp`` ClusterRole; ``ExistingCluster`` uses a
kubeconfig as is. Both make sure the InferencePool CRD is installed.

A kind cluster (``--cluster kind``) is made once per run by the process that owns the run (the
pytest-xdist controller, or the only process): ``provision_kind`` creates it from
``kind-config.yaml`` (or finds the one ``--kind-cluster`` names) and loads the images the
in-cluster topology runs; every process then uses it as an ``ExistingCluster`` of mode ``kind``.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kubernetes import client, config

from conformance import manifests
from conformance.catalogue import IN_CLUSTER
from conformance.options import ConformanceOptions, flag_name, topology_of
from eppconf import __version__
from eppconf.controlplane import ControlPlane, CrdError, ensure_crds
from eppconf.kind import KindCluster, image_present, newest_image, unavailable_reason

EPP_USER = "eppconf-epp"
"""The identity an EPP runs as in local mode (see manifests/rbac.yaml)."""
FAKES_REPOSITORY = "eppconf.local/fakes"
"""Where ``scripts/build-images.sh`` puts the fakes' image, tagged ``<eppconf version>-<hash>``."""
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
    """The kubeconfig handed to the EPP under test (with kind and existing clusters, kubectl's too)."""
    fakes_image: str | None
    """The fakes' image the provider put on the cluster's nodes, for the in-cluster topology; ``None``
    when it put none (``--fakes-image`` names it then)."""


class LocalCluster:
    """A control plane started for this run, torn down by ``close``."""

    mode = "local"
    fakes_image: str | None = None

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
    """A cluster someone else runs (or the run's kind cluster), reached through a kubeconfig."""

    def __init__(self, kubeconfig: Path, *, mode: str = "existing", fakes_image: str | None = None) -> None:
        self.mode, self.fakes_image, self.epp_kubeconfig = mode, fakes_image, kubeconfig
        try:
            self.api = config.new_client_from_config(str(kubeconfig))
        except config.ConfigException as err:
            where = flag_name("kubeconfig") if mode == "existing" else f"kubeconfig of the {mode} cluster"
            raise ClusterError(f"{where} {kubeconfig}: {err}") from None

    def start(self) -> None:
        """Make sure the InferencePool CRD is there."""
        ensure_crd(self.api)

    def close(self) -> None:
        """Close the client; the cluster itself stays."""
        self.api.close()


@dataclass(frozen=True)
class KindProvision:
    """What the run's owner made of ``--cluster kind``, in plain strings that pytest-xdist hands to
    its workers: the cluster's kubeconfig and the fakes' image loaded into it, or why it failed."""

    kubeconfig: str | None = None
    fakes_image: str | None = None
    problem: str | None = None


def kind_problem(options: ConformanceOptions) -> str | None:
    """Why ``--cluster kind`` cannot run here (Docker, kind CLI, node image, cluster or images
    missing), or None; checked before any test starts."""
    reason = unavailable_reason(existing=options.kind_cluster)
    if reason is not None:
        return reason
    if topology_of(options) != IN_CLUSTER:
        return None
    missing = [image for image in (options.epp_image, options.fakes_image) if image and not image_present(image)]
    if missing:
        return (f"image {', '.join(missing)} is not in the local Docker Engine, so it cannot be loaded into"
                " kind; build or pull it first (scripts/build-images.sh builds this project's images)")
    if options.fakes_image is None and local_fakes_image() is None:
        return (f"no {FAKES_REPOSITORY}:{__version__}-* image to load for the fakes; build it with"
                " scripts/build-images.sh or give --fakes-image")
    return None


def local_fakes_image() -> str | None:
    """The newest ``eppconf.local/fakes`` image of this eppconf version in the local Docker Engine."""
    return newest_image(FAKES_REPOSITORY, f"{__version__}-")


def provision_kind(options: ConformanceOptions) -> tuple[KindCluster, str | None]:
    """The run's kind cluster, ready, and the fakes' image loaded into it (None for virtual pods).

    The cluster ``--kind-cluster`` names is used and kept; otherwise one is created from
    ``kind-config.yaml`` and deleted by the caller's ``stop()`` unless ``--keep-kind-cluster``.
    The in-cluster topology's images (``--epp-image``, the fakes') are loaded into its node.
    """
    if options.kind_cluster is not None:
        kind = KindCluster(options.kind_cluster, keep=True)
        kind.attach()
    else:
        kind = KindCluster(f"eppconf-{secrets.token_hex(3)}", keep=options.keep_kind_cluster)
        kind.start()
    if topology_of(options) != IN_CLUSTER:
        return kind, None
    fakes_image = options.fakes_image or local_fakes_image()
    assert options.epp_image is not None and fakes_image is not None  # checked by kind_problem
    try:
        kind.load_images(options.epp_image, fakes_image)
    except BaseException:
        kind.stop()
        raise
    return kind, fakes_image


@contextlib.contextmanager
def open_cluster(options: ConformanceOptions, *, kind: KindProvision | None = None) -> Iterator[Cluster]:
    """The cluster ``options`` ask for, ready, and closed on exit; ``kind`` is the run's kind
    cluster for ``--cluster kind``."""
    cluster: LocalCluster | ExistingCluster
    if options.cluster == "existing":
        assert options.kubeconfig is not None  # checked by the options
        cluster = ExistingCluster(options.kubeconfig)
    elif options.cluster == "kind":
        if kind is None or kind.kubeconfig is None:
            raise ClusterError(kind.problem if kind is not None and kind.problem else "no kind cluster was made")
        cluster = ExistingCluster(Path(kind.kubeconfig), mode="kind", fakes_image=kind.fakes_image)
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
    """Delete the namespace; the cluster's namespace controller finishes it in the background (the
    local control plane has none, its namespaces stay terminating until it stops)."""
    client.CoreV1Api(api).delete_namespace(name)
