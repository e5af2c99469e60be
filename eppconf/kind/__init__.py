"""kind clusters from a node image built on this machine, and the host checks they need."""

from eppconf.kind.cluster import (
    BASE_IMAGE,
    CONFIG_ENV,
    KIND_VERSION,
    LOCAL_NODE_IMAGE,
    NODE_IMAGE_ENV,
    KindCluster,
    KindUnavailable,
    image_present,
    newest_image,
    node_image,
    unavailable_reason,
)
from eppconf.kind.isolation import IsolationMissing, check_isolation

__all__ = [
    "BASE_IMAGE",
    "CONFIG_ENV",
    "KIND_VERSION",
    "LOCAL_NODE_IMAGE",
    "NODE_IMAGE_ENV",
    "IsolationMissing",
    "KindCluster",
    "KindUnavailable",
    "check_isolation",
    "image_present",
    "newest_image",
    "node_image",
    "unavailable_reason",
]
