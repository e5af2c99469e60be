"""Known EPP implementations the suite can start by name: command templates, health, TLS, binaries.

A command template is split like a shell line and each argument filled separately with the
placeholders ``{pool} {namespace} {grpc_port} {grpc_health_port} {metrics_port} {kubeconfig}
{python} {bind_address}`` (the address the EPP is to listen on); ``{binary}`` is filled first, by
``Implementation.command_template()``, with the path of the implementation's binary. ``KUBECONFIG`` is set in
the environment of every EPP started.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from eppconf import __version__
from eppconf.build import build_command
from eppconf.controlplane import cache_root

EXT_PROC_HEALTH_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"


class ImplementationError(LookupError):
    """An implementation is unknown or its binary cannot be found; the message says how to get it."""


@dataclass(frozen=True)
class BinaryLocation:
    """Where an implementation's binary comes from: an environment variable, else a cache path."""

    env_var: str
    """Environment variable naming the binary explicitly."""
    cache_path: str | None
    """Path under the eppconf cache (``$EPPCONF_CACHE``, default ``~/.cache/eppconf``); ``None`` when
    this project builds no such binary and only ``env_var`` can name one."""
    how_to_get: str
    """How to get the binary: the command that builds it into the cache, or where it comes from."""

    def find(self) -> Path:
        """The executable; ``ImplementationError`` naming where it looked and how to get it if absent."""
        explicit = os.environ.get(self.env_var)
        if not explicit and self.cache_path is None:
            raise ImplementationError(f"${self.env_var} is not set; {self.how_to_get}")
        candidate = Path(explicit) if explicit else cache_root() / str(self.cache_path)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        source = f"${self.env_var}" if explicit else "the cache"
        raise ImplementationError(f"no executable at {candidate} (from {source}); {self.how_to_get}")

    @classmethod
    def built(cls, env_var: str, cache_path: str, build_command: str) -> BinaryLocation:
        """A binary that ``build_command`` (``eppconf build ...``) builds into the cache."""
        return cls(env_var, cache_path, f"build it with `{build_command}` (writes "
                                        f"$EPPCONF_CACHE/{cache_path}) or set {env_var} to its path")


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
    organization: str = ""
    """Who maintains it, as the report states it."""
    project: str = ""
    """Its project name, as the report states it."""
    url: str = ""
    """Its home page, as the report states it."""
    program: str = "{binary}"
    """The start of ``command`` that runs the EPP; an image of it has this as its entrypoint."""

    def __post_init__(self) -> None:
        if not self.command.startswith(self.program + " "):
            raise ValueError(f"{self.name}: command {self.command!r} does not start with {self.program!r}")

    def args_template(self) -> str:
        """The template of the arguments after ``program``: what a container of its image is given."""
        return self.command.removeprefix(self.program).strip()

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
             "--bind-address {bind_address}"),
    health_service=EXT_PROC_HEALTH_SERVICE,
    tls=True,
    organization="eppconf",
    project="eppconf-reference-epp",
    program="{python} -m eppconf reference-epp",
)

_GIE_FLAGS = ("{binary} --pool-name {pool} --pool-namespace {namespace} --grpc-port {grpc_port} "
              "--grpc-health-port {grpc_health_port} --metrics-port {metrics_port}")
"""The flags GIE's EPPs and their llm-d-router fork share."""
_GIE_V1_5_SWITCHES = "--metrics-endpoint-auth=false --tracing=false --enable-pprof=false"

GIE_V1_5_0 = Implementation(
    name="gie-v1.5.0",
    version="v1.5.0",
    description="GIE's EPP v1.5.0 (sigs.k8s.io/gateway-api-inference-extension/cmd/epp), default config",
    # It binds every interface (":port") with no flag to change that; tracing would export to an
    # OTLP collector and the metrics endpoint would ask the API server to review tokens, so both are off.
    command=f"{_GIE_FLAGS} {_GIE_V1_5_SWITCHES}",
    health_service=EXT_PROC_HEALTH_SERVICE,
    tls=True,
    binary=BinaryLocation.built("EPPCONF_GIE_EPP", "gie-epp/v1.5.0/epp", build_command("gie-epp")),
    organization="kubernetes-sigs",
    project="gateway-api-inference-extension",
    url="https://github.com/kubernetes-sigs/gateway-api-inference-extension",
)

GIE_V1_6_0 = Implementation(
    name="gie-v1.6.0",
    version="v1.6.0",
    description="GIE's lightweight EPP v1.6.0 (sigs.k8s.io/gateway-api-inference-extension/cmd/lwepp)",
    # It binds every interface (":port"), scrapes no metrics and picks round-robin; no tracing, pprof
    # or metrics authentication to switch off. Its health port reports the service
    # "inference-extension" SERVING once the pool is in its datastore ("" is SERVING from the start).
    command=_GIE_FLAGS,
    health_service="inference-extension",
    tls=True,
    binary=BinaryLocation.built("EPPCONF_GIE_LWEPP", "gie-epp/v1.6.0/lwepp",
                                build_command("gie-epp", "v1.6.0", "lwepp")),
    organization="kubernetes-sigs",
    project="gateway-api-inference-extension",
    url="https://github.com/kubernetes-sigs/gateway-api-inference-extension",
)

LLMD_ROUTER = Implementation(
    name="llm-d-router",
    version="v0.9.0",
    description="llm-d-router's EPP (github.com/llm-d/llm-d-router/cmd/epp), default config",
    # Same flags and defaults as GIE's EPP v1.5.0, from which it was forked.
    command=f"{_GIE_FLAGS} {_GIE_V1_5_SWITCHES}",
    health_service=EXT_PROC_HEALTH_SERVICE,
    tls=True,
    binary=BinaryLocation("EPPCONF_LLMD_ROUTER_EPP", None,
                          "build llm-d-router's cmd/epp (github.com/llm-d/llm-d-router, tag v0.9.0; the Go "
                          "module proxy does not serve it) and set EPPCONF_LLMD_ROUTER_EPP to the binary"),
    organization="llm-d",
    project="llm-d-router",
    url="https://github.com/llm-d/llm-d-router",
)

IMPLEMENTATIONS: dict[str, Implementation] = {
    impl.name: impl for impl in (REFERENCE, GIE_V1_5_0, GIE_V1_6_0, LLMD_ROUTER)}
"""Every known implementation by name."""


def get_implementation(name: str) -> Implementation:
    """The implementation called ``name``; ``ImplementationError`` listing the known ones otherwise."""
    try:
        return IMPLEMENTATIONS[name]
    except KeyError:
        raise ImplementationError(f"unknown EPP implementation {name!r}; known: {', '.join(IMPLEMENTATIONS)}") from None


class _Unfilled(dict[str, object]):
    """Format values that leave every placeholder not given as it is (``{namespace}``)."""

    def __missing__(self, key: str) -> str:
        return f"{{{key}}}"


def fill_command(template: str, values: Mapping[str, object]) -> list[str]:
    """The argv of a command template: split like a shell line, each argument filled separately.

    Placeholders missing from ``values`` stay as they are.
    """
    return [part.format_map(_Unfilled(values)) for part in shlex.split(template)]
