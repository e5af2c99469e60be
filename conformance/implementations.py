"""Known EPP implementations the suite can start by name: command templates, health, TLS, binaries.

A command template is split like a shell line and each argument filled separately with the
placeholders ``{pool} {namespace} {grpc_port} {grpc_health_port} {metrics_port} {kubeconfig}
{python}``; ``{binary}`` is filled first, by ``Implementation.command_template()``, with the path
of the implementation's binary. ``KUBECONFIG`` is set in the environment of every EPP started.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from eppconf import __version__
from eppconf.controlplane import cache_root

EXT_PROC_HEALTH_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"


class ImplementationError(LookupError):
    """An implementation is unknown or its binary cannot be found; the message says how to get it."""


@dataclass(frozen=True)
class BinaryLocation:
    """Where an implementation's binary comes from: an environment variable, else a cache path."""

    env_var: str
    """Environment variable naming the binary explicitly."""
    cache_path: str
    """Path under the eppconf cache (``$EPPCONF_CACHE``, default ``~/.cache/eppconf``)."""
    build_script: str
    """Script, relative to the project root, that builds the binary into the cache."""

    def find(self) -> Path:
        """The executable; ``ImplementationError`` naming both places and the build command if absent."""
        explicit = os.environ.get(self.env_var)
        candidate = Path(explicit) if explicit else cache_root() / self.cache_path
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        source = f"${self.env_var}" if explicit else "the cache"
        raise ImplementationError(
            f"no executable at {candidate} (from {source}); build it with `bash {self.build_script}` "
            f"(writes {cache_root() / self.cache_path}) or set {self.env_var} to its path")


@dataclass(frozen=True)
class Implementation:
    """An EPP the suite knows how to start."""

    name: str
    version: str
    """The version the report states."""
    description: str
    command: str
    """Command template; see the module docstring for the placeholders."""
    health_service: str
    """gRPC health service (on ``{grpc_health_port}``) that reports SERVING once the EPP is ready."""
    tls: bool
    """Whether its ext_proc server speaks TLS (self-signed, not verified by the gateway client)."""
    binary: BinaryLocation | None = None

    def command_template(self) -> str:
        """The template with ``{binary}`` filled; ``ImplementationError`` if the binary is missing."""
        if self.binary is None:
            return self.command
        return self.command.replace("{binary}", shlex.quote(str(self.binary.find())))


REFERENCE = Implementation(
    name="reference",
    version=__version__,
    description="eppconf's reference Endpoint Picker",
    command=("{python} -m eppconf reference-epp --pool-name {pool} --pool-namespace {namespace} "
             "--grpc-port {grpc_port} --grpc-health-port {grpc_health_port} --metrics-port {metrics_port} "
             "--bind-address 127.0.0.1"),
    health_service=EXT_PROC_HEALTH_SERVICE,
    tls=True,
)

GIE_V1_5_0 = Implementation(
    name="gie-v1.5.0",
    version="v1.5.0",
    description="GIE's EPP v1.5.0 (sigs.k8s.io/gateway-api-inference-extension/cmd/epp), default config",
    # It binds every interface (":port") with no flag to change that; tracing would export to an
    # OTLP collector and the metrics endpoint would ask the API server to review tokens, so both are off.
    command=("{binary} --pool-name {pool} --pool-namespace {namespace} --grpc-port {grpc_port} "
             "--grpc-health-port {grpc_health_port} --metrics-port {metrics_port} "
             "--metrics-endpoint-auth=false --tracing=false --enable-pprof=false"),
    health_service=EXT_PROC_HEALTH_SERVICE,
    tls=True,
    binary=BinaryLocation(env_var="EPPCONF_GIE_EPP", cache_path="gie-epp/v1.5.0/epp",
                          build_script="scripts/build-gie-epp.sh"),
)

IMPLEMENTATIONS: dict[str, Implementation] = {impl.name: impl for impl in (REFERENCE, GIE_V1_5_0)}
"""Every known implementation by name."""


def get_implementation(name: str) -> Implementation:
    """The implementation called ``name``; ``ImplementationError`` listing the known ones otherwise."""
    try:
        return IMPLEMENTATIONS[name]
    except KeyError:
        raise ImplementationError(f"unknown EPP implementation {name!r}; known: {', '.join(IMPLEMENTATIONS)}") from None
