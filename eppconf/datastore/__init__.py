"""The reference datastore: an InferencePool and its pods in, endpoints out (docs/spec.md).

Pure Python, no I/O. ``Datastore`` applies events incrementally and returns a ``Diff`` per
event; ``compute_endpoints`` computes the same endpoints from scratch.
"""

from __future__ import annotations

from eppconf.datastore._manifest import ManifestError, pod_from_manifest, pool_from_manifest
from eppconf.datastore._model import Diff, Endpoint, EndpointKey, PodInfo, PodProblem, PoolSpec, PortSource
from eppconf.datastore._rules import compute_endpoints, considered
from eppconf.datastore._store import Datastore

__all__ = [
    "Datastore",
    "Diff",
    "Endpoint",
    "EndpointKey",
    "ManifestError",
    "PodInfo",
    "PodProblem",
    "PoolSpec",
    "PortSource",
    "compute_endpoints",
    "considered",
    "pod_from_manifest",
    "pool_from_manifest",
]
