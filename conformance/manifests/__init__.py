"""Kubernetes manifests the harness applies, and the loader for them."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

MANIFESTS_DIR = Path(__file__).parent
CRD_DIR = MANIFESTS_DIR / "crds"
"""The InferencePool CRD the harness installs where the cluster lacks it."""


@functools.cache
def _documents(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(doc for doc in yaml.safe_load_all((MANIFESTS_DIR / name).read_text()) if doc)


def load(name: str) -> list[dict[str, Any]]:
    """Fresh copies of the documents in the manifest file ``name`` (e.g. ``pod.yaml``)."""
    return copy.deepcopy(list(_documents(name)))
