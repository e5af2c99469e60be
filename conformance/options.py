"""Conformance run options: one serialisable object built from layers.

Layers, later ones winning: the defaults of ``ConformanceOptions``, then a YAML options file
(``--conformance-config``), then only the flags the user gave. Every bad value raises
``pytest.UsageError`` saying which option, where it came from and what is wrong.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.features import PROFILES, profiles_named

CLUSTER_MODES = ("local", "kind", "existing")
PLACEHOLDERS = frozenset({"pool", "namespace", "grpc_port", "grpc_health_port", "metrics_port",
                          "kubeconfig", "python"})
"""Placeholders an ``--epp-command`` template may use."""


@dataclass(frozen=True)
class ImplementationInfo:
    """Who is being certified, as the report states it."""

    name: str = ""
    """Project name; defaults to the ``--epp`` preset, or ``custom`` for ``--epp-command``."""
    version: str = ""
    """Version under test; defaults to ``unknown`` (the eppconf version for the reference EPP)."""


@dataclass(frozen=True)
class ConformanceOptions:
    """Everything a conformance run is configured with. Paths are absolute once built."""

    epp: str = "reference"
    """Preset EPP from ``conformance.implementations`` (default ``reference``)."""
    epp_command: str | None = None
    """Command template starting any EPP as a local process; overrides ``epp``."""
    epp_image: str | None = None
    """Container image of the EPP for cluster mode (not implemented yet)."""
    cluster: str = "local"
    """``local`` (own etcd + kube-apiserver), ``kind`` (not implemented yet) or ``existing``."""
    kubeconfig: Path | None = None
    """Kubeconfig of an existing cluster (required with ``cluster: existing``)."""
    control_plane_bin_dir: Path | None = None
    """Folder with ``etcd`` and ``kube-apiserver`` for local mode (default: found automatically)."""
    profiles: tuple[str, ...] = tuple(PROFILES)
    """Profiles to certify (default: all)."""
    report_output: Path | None = None
    """File the YAML report is written to at the end of the run (default: terminal only)."""
    convergence_timeout: float = 10.0
    """Seconds the EPP gets to reflect a change in the Kubernetes API (default 10)."""
    epp_start_timeout: float = 30.0
    """Seconds the EPP gets to report gRPC health SERVING (default 30)."""
    implementation: ImplementationInfo = field(default_factory=ImplementationInfo)
    """Metadata of the implementation under test, for the report."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data (strings, numbers, lists, mappings), as YAML or JSON would hold it."""
        data = asdict(self)
        data["profiles"] = list(self.profiles)
        for name in ("kubeconfig", "control_plane_bin_dir", "report_output"):
            if data[name] is not None:
                data[name] = str(data[name])
        return data



def option_key(name: str) -> str:
    """The options-file key of a field: its flag name without dashes (``epp-command``)."""
    return name.replace("_", "-")


def flag_name(name: str) -> str:
    """The command-line flag of a field (``--profile`` is given once per profile)."""
    return "--profile" if name == "profiles" else f"--{option_key(name)}"


_FIELDS = {option_key(f.name): f.name for f in fields(ConformanceOptions)}


def load_options_file(path: Path) -> dict[str, Any]:
    """The mapping in a YAML options file, keyed by field name."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as err:
        raise pytest.UsageError(f"--conformance-config {path}: cannot read: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise pytest.UsageError(f"--conformance-config {path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise pytest.UsageError(f"--conformance-config {path}: expected a mapping of options")
    unknown = sorted(str(key) for key in data if key not in _FIELDS)
    if unknown:
        raise pytest.UsageError(f"--conformance-config {path}: unknown option(s) {', '.join(unknown)};"
                                f" known: {', '.join(_FIELDS)}")
    return {_FIELDS[key]: value for key, value in data.items()}


def build_options(*, file_values: Mapping[str, Any], flag_values: Mapping[str, Any],
                  file_path: Path | None = None, base_dir: Path,
                  presets: Callable[[], Collection[str]]) -> ConformanceOptions:
    """Defaults, then ``file_values``, then the flags that were given (not ``None``), validated.

    Relative paths in the file are taken relative to the file, flags relative to ``base_dir``.
    ``presets`` lists the known EPP presets; it is only called when an ``epp`` value was given,
    so a run that names none never imports them.
    """
    options = ConformanceOptions()
    file_dir = file_path.parent if file_path else base_dir
    for name, value in file_values.items():
        options = _set(options, name, value, origin=f"{file_path}: {option_key(name)}", base=file_dir)
    for name, value in flag_values.items():
        if value is not None:
            options = _set(options, name, value, origin=flag_name(name), base=base_dir)
    _check_combination(options)
    if flag_values.get("epp") is not None or "epp" in file_values:
        _check_preset(options, presets)
    return options


def _set(options: ConformanceOptions, name: str, value: Any, *, origin: str,
         base: Path) -> ConformanceOptions:
    try:
        return replace(options, **{name: _coerce(name, value, base=base)})
    except (TypeError, ValueError) as err:
        raise pytest.UsageError(f"{origin}: {err}") from None


def _coerce(name: str, value: Any, *, base: Path) -> Any:
    if name in ("kubeconfig", "control_plane_bin_dir", "report_output"):
        return (base / _text(value)).resolve()
    if name in ("convergence_timeout", "epp_start_timeout"):
        return _positive_seconds(value)
    if name == "profiles":
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list | tuple) or not names:
            raise ValueError("expected one or more profile names")
        return tuple(profile.name for profile in profiles_named(_text(n) for n in names))
    if name == "cluster":
        if value not in CLUSTER_MODES:
            raise ValueError(f"expected one of {', '.join(CLUSTER_MODES)}, got {value!r}")
        return value
    if name == "epp_command":
        return _template(value)
    if name == "implementation":
        if not isinstance(value, Mapping) or set(value) - {"name", "version"}:
            raise ValueError("expected a mapping with keys name and version")
        return ImplementationInfo(**{key: _text(item) for key, item in value.items()})
    return _text(value)


def _text(value: Any) -> str:
    if not isinstance(value, str | Path) or not str(value).strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return str(value)


def _positive_seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"expected a positive number of seconds, got {value!r}")
    return seconds


def _template(value: Any) -> str:
    template = _text(value)
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as err:
        raise ValueError(f"malformed template {template!r}: {err}") from None
    unknown = sorted(names - PLACEHOLDERS)
    if unknown:
        raise ValueError(f"unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)} in"
                         f" {template!r}; known: {', '.join(sorted(PLACEHOLDERS))}")
    return template


def _check_preset(options: ConformanceOptions, presets: Callable[[], Collection[str]]) -> None:
    if options.epp_command is not None:
        raise pytest.UsageError(f"--epp {options.epp} and --epp-command both name the EPP; give one")
    known = presets()
    if options.epp not in known:
        raise pytest.UsageError(f"--epp {options.epp}: unknown preset; known: {', '.join(sorted(known))}")


def _check_combination(options: ConformanceOptions) -> None:
    if options.epp_image is not None:
        raise pytest.UsageError("--epp-image: running the EPP as a container (cluster mode) is not"
                                " implemented yet; use --epp or --epp-command")
    if options.cluster == "kind":
        raise pytest.UsageError("--cluster kind: not implemented yet; use --cluster local or existing")
    if options.cluster == "existing" and options.kubeconfig is None:
        raise pytest.UsageError("--cluster existing needs --kubeconfig")
    if options.cluster == "local" and options.kubeconfig is not None:
        raise pytest.UsageError("--kubeconfig is only read with --cluster existing; local mode starts"
                                " its own control plane")
    if options.kubeconfig is not None and not options.kubeconfig.is_file():
        raise pytest.UsageError(f"--kubeconfig {options.kubeconfig}: no such file")
    if options.control_plane_bin_dir is not None and not options.control_plane_bin_dir.is_dir():
        raise pytest.UsageError(f"--control-plane-bin-dir {options.control_plane_bin_dir}: no such folder")
