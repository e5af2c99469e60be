"""eppconf: conformance suite and reference parts for multi-port Endpoint Pickers.

Public face:
- ``eppconf.portdiscovery``: the annotation keys, typed models and parser;
- ``eppconf.datastore``: the reference datastore (pods -> endpoints, pure);
- ``eppconf.controlplane``: a local etcd + kube-apiserver;
- ``eppconf.refepp``: the reference Endpoint Picker;
- ``fakes``: fake vLLM model servers and launcher;
- ``conformance``: the pytest plugin and test catalogue.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
