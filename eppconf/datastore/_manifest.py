"""Building PodInfo and PoolSpec from Kubernetes JSON objects (as the API server returns them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eppconf.datastore._model import PodInfo, PoolSpec

POOL_GROUP = "inference.networking.k8s.io"


class ManifestError(ValueError):
    """A Kubernetes object that cannot be read; the message names the object and the field."""


def pod_from_manifest(pod: Mapping[str, Any]) -> PodInfo:
    """A PodInfo from a Pod object (metadata, status.podIP, status.conditions)."""
    meta = _mapping(pod, "metadata", "Pod")
    name = _string(meta, "name", "Pod", required=True)
    where = f"Pod {name}"
    status = _mapping(pod, "status", where, default={})
    conditions = status.get("conditions") or []
    if not isinstance(conditions, list):
        raise ManifestError(f"{where}: status.conditions must be a list")
    ready = any(isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True"
                for c in conditions)
    return PodInfo(
        name=name,
        namespace=_string(meta, "namespace", where) or "default",
        labels=_string_map(meta, "labels", where),
        annotations=_string_map(meta, "annotations", where),
        pod_ip=_string(status, "podIP", where) or None,
        ready=ready,
        deleting=bool(meta.get("deletionTimestamp")),
    )


def pool_from_manifest(pool: Mapping[str, Any]) -> PoolSpec:
    """A PoolSpec from an InferencePool v1 object; targetPorts may be absent or empty."""
    api_version = pool.get("apiVersion") if isinstance(pool, Mapping) else None
    if api_version is not None and not str(api_version).startswith(f"{POOL_GROUP}/"):
        raise ManifestError(f"InferencePool: apiVersion must be in group {POOL_GROUP}, got {api_version!r}")
    meta = _mapping(pool, "metadata", "InferencePool")
    name = _string(meta, "name", "InferencePool", required=True)
    where = f"InferencePool {name}"
    spec = _mapping(pool, "spec", where)
    selector = _mapping(spec, "selector", where)
    match_labels = _string_map(selector, "matchLabels", f"{where}: spec.selector")
    if not match_labels:
        raise ManifestError(f"{where}: spec.selector.matchLabels must have at least one label")
    ports = spec.get("targetPorts") or []
    if not isinstance(ports, list):
        raise ManifestError(f"{where}: spec.targetPorts must be a list")
    numbers = []
    for index, item in enumerate(ports):
        number = item.get("number") if isinstance(item, Mapping) else None
        if isinstance(number, bool) or not isinstance(number, int):
            raise ManifestError(f"{where}: spec.targetPorts[{index}].number must be an integer, got {number!r}")
        numbers.append(number)
    try:
        return PoolSpec(name, _string(meta, "namespace", where) or "default", match_labels, tuple(numbers))
    except ValueError as error:
        raise ManifestError(str(error)) from None


def _mapping(obj: Any, key: str, where: str, *, default: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ManifestError(f"{where}: must be an object, got {type(obj).__name__}")
    value = obj.get(key, default)
    if not isinstance(value, Mapping):
        raise ManifestError(f"{where}: {key} must be an object")
    return value


def _string(obj: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ManifestError(f"{where}: {key} must be a non-empty string" if required else
                            f"{where}: {key} must be a string")
    return value


def _string_map(obj: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    value = obj.get(key) or {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in value.items()):
        raise ManifestError(f"{where}: {key} must map strings to strings")
    return dict(value)
