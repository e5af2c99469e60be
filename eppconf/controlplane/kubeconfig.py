"""Self-contained kubeconfig files (CA and client certificate embedded) for one identity."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from eppconf.controlplane.certs import KeyPair


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(path: Path, *, server: str, ca_pem: bytes, client: KeyPair, user: str) -> Path:
    """Write a kubeconfig (mode 0600) for ``user`` authenticating with ``client`` to ``server``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "eppconf", "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(client.cert_pem),
                    "client-key-data": _b64(client.key_pem),
                },
            }
        ],
        "contexts": [{"name": user, "context": {"cluster": "eppconf", "user": user}}],
        "current-context": user,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
