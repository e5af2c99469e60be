"""The port-discovery annotation: its keys, typed entries, parser and JSON Schema (docs/spec.md).

``PORT_DISCOVERY_ANNOTATION`` declares one model server per entry; the two ``active-ports``
annotations filter an InferencePool's targetPorts instead.
"""

from __future__ import annotations

from eppconf.portdiscovery._model import (
    MAX_ATTRIBUTE_KEY_LENGTH,
    MAX_ATTRIBUTE_VALUE_LENGTH,
    MAX_ATTRIBUTES,
    MAX_ENTRIES,
    MAX_POOL_NAME_LENGTH,
    PortEntry,
)
from eppconf.portdiscovery._parser import (
    PortDiscoveryError,
    Problem,
    dump_port_discovery,
    parse_port_discovery,
)
from eppconf.portdiscovery.activeports import parse_active_ports
from eppconf.portdiscovery.schema import load_schema, schemas_dir

PORT_DISCOVERY_ANNOTATION = "inference.networking.x-k8s.io/port-discovery"
ACTIVE_PORTS_ANNOTATION = "inference.networking.k8s.io/active-ports"
LLMD_ACTIVE_PORTS_ANNOTATION = "llm-d.ai/active-ports"

__all__ = [
    "ACTIVE_PORTS_ANNOTATION",
    "LLMD_ACTIVE_PORTS_ANNOTATION",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_KEY_LENGTH",
    "MAX_ATTRIBUTE_VALUE_LENGTH",
    "MAX_ENTRIES",
    "MAX_POOL_NAME_LENGTH",
    "PORT_DISCOVERY_ANNOTATION",
    "PortDiscoveryError",
    "PortEntry",
    "Problem",
    "dump_port_discovery",
    "load_schema",
    "parse_active_ports",
    "parse_port_discovery",
    "schemas_dir",
]
