"""Install CustomResourceDefinitions from a manifest folder unless the cluster has them.

The suite uses this for its own InferencePool CRD
(``conformance/manifests/crds/inferencepool.yaml``); an existing CRD of the same name
is left untouched, so a cluster that already runs the upstream CRD keeps it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client as k8s

#: The suite's CRD manifests (sibling of the ``eppconf`` package in a checkout and in a wheel).
DEFAULT_CRD_DIR = Path(__file__).resolve().parents[2] / "conformance" / "manifests" / "crds"
_CRD_API_VERSION = "apiextensions.k8s.io/v1"


class CrdError(RuntimeError):
    """A CRD manifest is invalid or could not be installed."""


class CrdInstallForbidden(CrdError):
    """The cluster refused (HTTP 403) to show or create a CRD."""


def load_crd_manifests(manifests: Path = DEFAULT_CRD_DIR) -> list[dict[str, Any]]:
    """Every CRD document of ``manifests``: one YAML file, or a folder's ``*.yaml`` in name order."""
    manifests = Path(manifests)
    files = [manifests] if manifests.is_file() else sorted(manifests.glob("*.yaml"))
    if not files:
        raise CrdError(f"no CRD manifests: {manifests} is neither a YAML file nor a folder holding *.yaml")
    crds = []
    for path in files:
        try:
            documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        except yaml.YAMLError as error:
            raise CrdError(f"{path}: not valid YAML: {error}") from error
        for index, doc in enumerate(documents):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition" or doc.get(
                "apiVersion"
            ) != _CRD_API_VERSION or not doc.get("metadata", {}).get("name"):
                raise CrdError(
                    f"{path}, document {index + 1}: expected a named CustomResourceDefinition of {_CRD_API_VERSION}"
                )
            crds.append(doc)
    return crds


def ensure_crds(
    api_client: k8s.ApiClient, manifest_dir: Path = DEFAULT_CRD_DIR, *, timeout: float = 30.0
) -> list[str]:
    """Create each CRD of ``manifest_dir`` the cluster lacks and wait until it is Established.

    ``manifest_dir`` may also name a single YAML file. Returns the names created (empty when all were present). Raises
    :class:`CrdInstallForbidden` when the identity of ``api_client`` may not read or
    create CRDs, and :class:`CrdError` when a CRD is not established within ``timeout`` s.
    """
    api = k8s.ApiextensionsV1Api(api_client)
    created = []
    for crd in load_crd_manifests(manifest_dir):
        name = crd["metadata"]["name"]
        if _read(api, name, manifest_dir) is None:
            _create(api, crd, manifest_dir)
            created.append(name)
    for name in created:
        _wait_established(api, name, manifest_dir, timeout)
    return created


def _forbidden(verb: str, name: str, manifest_dir: Path, error: k8s.ApiException) -> CrdInstallForbidden:
    return CrdInstallForbidden(
        f"not allowed to {verb} CustomResourceDefinition {name} (HTTP 403: {_reason(error)}). "
        f"Run the suite with an identity that may, or have an administrator apply {manifest_dir} first."
    )


def _reason(error: k8s.ApiException) -> str:
    try:
        return str(json.loads(error.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return str(error.reason)


def _read(api: k8s.ApiextensionsV1Api, name: str, manifest_dir: Path) -> dict[str, Any] | None:
    # Raw JSON: the generated CRD model rejects some valid status shapes.
    try:
        response: Any = api.read_custom_resource_definition(name, _preload_content=False)
    except k8s.ApiException as error:
        if error.status == 404:
            return None
        if error.status == 403:
            raise _forbidden("read", name, manifest_dir, error) from error
        raise CrdError(
            f"reading CustomResourceDefinition {name} failed: HTTP {error.status} {_reason(error)}"
        ) from error
    return dict(json.loads(response.data))


def _create(api: k8s.ApiextensionsV1Api, crd: dict[str, Any], manifest_dir: Path) -> None:
    name = crd["metadata"]["name"]
    try:
        # A dict body is sent as is; the raw response is drained so its connection returns to the pool.
        response: Any = api.create_custom_resource_definition(cast(Any, crd), _preload_content=False)
        response.drain_conn()
        response.release_conn()
    except k8s.ApiException as error:
        if error.status == 403:
            raise _forbidden("create", name, manifest_dir, error) from error
        if error.status != 409:  # created meanwhile by someone else: fine
            raise CrdError(
                f"creating CustomResourceDefinition {name} failed: HTTP {error.status} {_reason(error)}"
            ) from error


def _wait_established(api: k8s.ApiextensionsV1Api, name: str, manifest_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        crd = _read(api, name, manifest_dir) or {}
        conditions = crd.get("status", {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return
        if time.monotonic() >= deadline:
            raise CrdError(f"CustomResourceDefinition {name} was not Established within {timeout:g} s: {conditions}")
        time.sleep(0.1)
