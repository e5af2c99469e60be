"""A local control plane (etcd + kube-apiserver as processes, envtest style).

Public face: :class:`ControlPlane`, :func:`find_binaries` and :class:`BinariesNotFound`,
:class:`ManagedProcess` (the project's one process primitive), :func:`reserve_port` and :func:`reserve_address_block`,
and :func:`ensure_crds` for the suite's InferencePool CRD.
"""

from __future__ import annotations

from eppconf.controlplane.binaries import (
    ASSETS_ENV,
    BIN_DIR_FLAG,
    BUILD_SCRIPT,
    KUBERNETES_VERSION,
    BinariesNotFound,
    cache_root,
    find_binaries,
)
from eppconf.controlplane.controlplane import ADMIN_USER, ControlPlane, ControlPlaneError
from eppconf.controlplane.crds import DEFAULT_CRD_DIR, CrdError, CrdInstallForbidden, ensure_crds
from eppconf.controlplane.ports import release_address_block, reserve_address_block, reserve_port
from eppconf.controlplane.process import ManagedProcess, ProcessStartError, ReadyCheck, http_ready

__all__ = [
    "ADMIN_USER",
    "ASSETS_ENV",
    "BIN_DIR_FLAG",
    "BUILD_SCRIPT",
    "DEFAULT_CRD_DIR",
    "KUBERNETES_VERSION",
    "BinariesNotFound",
    "ControlPlane",
    "ControlPlaneError",
    "CrdError",
    "CrdInstallForbidden",
    "ManagedProcess",
    "ProcessStartError",
    "ReadyCheck",
    "cache_root",
    "ensure_crds",
    "release_address_block",
    "reserve_address_block",
    "find_binaries",
    "http_ready",
    "reserve_port",
]
