"""Conformance run options: one serialisable object built from layers, and the one table of flags.

Layers, later ones winning: the defaults of ``ConformanceOptions``, then a YAML options file
(``--conformance-config``), then only the flags the user gave. Every bad value raises
``pytest.UsageError`` saying which option, where it came from and what is wrong.

Each option is a field of ``ConformanceOptions`` (or of its nested ``implementation`` and
``observer``): its default lives there, its options-file key is the field name with dashes, and
its flag, placeholder name and help live in ``FLAGS``. The flags, the help and the options table of
``docs/conformance.md`` are all made from these two.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Collection, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.catalogue import IN_CLUSTER, TOPOLOGIES, VIRTUAL_PODS
from conformance.features import PROFILES, Feature, profiles_named
from conformance.harness.settings import ObserverSettings

CLUSTER_MODES = ("local", "kind", "existing")
PLACEHOLDERS = ("pool", "namespace", "grpc_port", "grpc_health_port", "metrics_port", "kubeconfig", "python",
                "bind_address")
"""Placeholders an ``--epp-command`` template may use."""
CONFIG_FLAG = "--conformance-config"
"""The flag naming the YAML options file."""


@dataclass(frozen=True)
class ImplementationInfo:
    """Who is being certified, as the report states it (Gateway API's ``Implementation``).

    Fields left empty are taken from the ``--epp`` preset.
    """

    organization: str = ""
    """Organisation that maintains the implementation, e.g. ``kubernetes-sigs``."""
    project: str = ""
    """Project name, e.g. ``gateway-api-inference-extension``; ``custom`` for an unnamed ``--epp-command``."""
    url: str = ""
    """Home page or repository (``http(s)://...``)."""
    version: str = ""
    """Version under test; ``unknown`` for an unnamed ``--epp-command``."""
    contact: tuple[str, ...] = ()
    """How to reach the maintainers: GitHub handles (``@name``), e-mail addresses or URLs."""


@dataclass(frozen=True)
class ConformanceOptions:
    """Everything a conformance run is configured with. Paths are absolute once built."""

    epp: str = "reference"
    """Preset EPP from ``conformance.implementations``."""
    epp_command: str | None = None
    """Command template starting any EPP as a local process; overrides ``epp``."""
    epp_image: str | None = None
    """Container image of the EPP, run with host networking against the cluster (virtual pods)."""
    epp_args: str | None = None
    """Argument template for ``epp_image``'s entrypoint; default: the ``epp`` preset's arguments."""
    topology: str | None = None
    """``virtual-pods`` or ``in-cluster``; default: ``in-cluster`` with ``cluster: kind``, or
    ``existing`` with ``epp_image``, else ``virtual-pods`` (see ``topology_of``)."""
    fakes_image: str | None = None
    """Image of the fakes (``eppconf fake-server``, ``eppconf agent``) for the in-cluster topology;
    default: the one the kind provider loaded."""
    cluster: str = "local"
    """``local`` (own etcd + kube-apiserver), ``kind`` (a kind cluster for the run) or ``existing``."""
    kubeconfig: Path | None = None
    """Kubeconfig of an existing cluster (required with ``cluster: existing``)."""
    kind_cluster: str | None = None
    """A running kind cluster to use with ``cluster: kind`` (never deleted); default: create one."""
    keep_kind_cluster: bool = False
    """Keep the kind cluster that ``cluster: kind`` created instead of deleting it at the end."""
    control_plane_bin_dir: Path | None = None
    """Folder with ``etcd`` and ``kube-apiserver`` for local mode (default: found automatically)."""
    profiles: tuple[str, ...] = tuple(PROFILES)
    """Profiles to certify."""
    supported_features: tuple[str, ...] = tuple(map(str, Feature))
    """Features the implementation supports; tests needing any other are skipped."""
    exempt_features: tuple[str, ...] = ()
    """Features the implementation is exempt from, taken out of ``supported_features``."""
    report_output: Path | None = None
    """File the YAML report is written to at the end of the run (default: terminal only)."""
    convergence_timeout: float = 10.0
    """Seconds the EPP gets to reflect a change in the Kubernetes API."""
    epp_start_timeout: float = 30.0
    """Seconds the EPP gets to report gRPC health SERVING."""
    implementation: ImplementationInfo = field(default_factory=ImplementationInfo)
    """Metadata of the implementation under test, for the report."""
    observer: ObserverSettings = field(default_factory=ObserverSettings)
    """How the endpoint observer probes (options file only)."""

    def supports(self, features: Collection[str]) -> bool:
        """Whether the implementation declares every one of ``features``."""
        return set(features) <= set(self.supported_features) - set(self.exempt_features)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (strings, numbers, lists, mappings), as YAML or JSON would hold it."""
        return _plain(asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return str(value) if isinstance(value, Path) else value


@dataclass(frozen=True)
class Flag:
    """How one option is given on the command line."""

    name: str
    """The flag, e.g. ``--epp-command``; none is used by a well-known pytest plugin."""
    metavar: str
    help: str
    many: bool = False
    """Repeatable, each value a comma-separated list; the values add up."""
    switch: bool = False
    """Takes no value: giving the flag sets the option to true."""
    default: str | None = None
    """How help and docs show the default, where the field's own value reads badly."""


def _features_help(what: str) -> str:
    return f"{what}; known: {', '.join(Feature)}"


FLAGS: dict[str, Flag] = {
    "epp": Flag("--epp", "PRESET", "EPP preset from conformance.implementations"),
    "epp_command": Flag("--epp-command", "TEMPLATE", "run any EPP as a local process; placeholders "
                        + " ".join(f"{{{name}}}" for name in PLACEHOLDERS)),
    "epp_image": Flag("--epp-image", "IMAGE", "run the EPP as a Docker container of this local image, with"
                      " host networking; its arguments are --epp-args or the --epp preset's"),
    "epp_args": Flag("--epp-args", "TEMPLATE", "arguments of the --epp-image entrypoint; placeholders as"
                     " --epp-command's ({kubeconfig}: the path inside the container)",
                     default="the --epp preset's"),
    "topology": Flag("--topology", "|".join(TOPOLOGIES),
                     "virtual-pods (pods the harness runs on 127.x, the EPP a local process or host-network"
                     " container) or in-cluster (fake pods and the EPP as real pods of the cluster)",
                     default="in-cluster with --cluster kind, or existing with --epp-image; else virtual-pods"),
    "fakes_image": Flag("--fakes-image", "IMAGE", "image of the fakes for --topology in-cluster (on the"
                        " cluster's nodes; scripts/build-images.sh builds it)",
                        default="the kind provider's"),
    "cluster": Flag("--cluster", "|".join(CLUSTER_MODES),
                    "where pods and pools live: local (an own etcd + kube-apiserver), kind (a kind cluster"
                    " created for the run, or --kind-cluster) or existing"),
    "kubeconfig": Flag("--cluster-kubeconfig", "FILE", "kubeconfig of --cluster existing"),
    "kind_cluster": Flag("--kind-cluster", "NAME", "with --cluster kind: use this running kind cluster"
                         " (never deleted) instead of creating one"),
    "keep_kind_cluster": Flag("--keep-kind-cluster", "", "with --cluster kind: keep the cluster the run"
                              " creates (its name is printed at the end)", switch=True),
    "control_plane_bin_dir": Flag("--control-plane-bin-dir", "DIR", "folder with etcd and kube-apiserver"
                                  " (default: KUBEBUILDER_ASSETS, then the eppconf cache)"),
    "profiles": Flag("--conformance-profile", "NAME", f"profile to certify; known: {', '.join(PROFILES)}",
                     many=True, default="all"),
    "supported_features": Flag("--supported-features", "FEATURE",
                               _features_help("features the implementation supports"), many=True,
                               default="all"),
    "exempt_features": Flag("--exempt-features", "FEATURE",
                            _features_help("features the implementation is exempt from"), many=True),
    "report_output": Flag("--report-output", "PATH", "write the YAML conformance report here"),
    "convergence_timeout": Flag("--convergence-timeout", "SECONDS", "time the EPP gets to reflect a change"),
    "epp_start_timeout": Flag("--epp-start-timeout", "SECONDS", "time the EPP gets to report SERVING"),
    "implementation.organization": Flag("--implementation-organization", "NAME",
                                        "organisation maintaining the EPP, for the report"),
    "implementation.project": Flag("--implementation-project", "NAME", "project name of the EPP, for the report"),
    "implementation.url": Flag("--implementation-url", "URL", "home page of the EPP, for the report"),
    "implementation.version": Flag("--implementation-version", "VERSION", "version of the EPP, for the report"),
    "implementation.contact": Flag("--implementation-contact", "CONTACT", "maintainers' @handle, e-mail or"
                                   " URL, for the report", many=True),
}
"""Option (a field of ``ConformanceOptions``, dotted for nested ones) -> its flag."""

_PATHS = ("kubeconfig", "control_plane_bin_dir", "report_output")
_SWITCHES = ("keep_kind_cluster",)
_KIND_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")
"""A name kind accepts for a cluster."""
_SECONDS = ("convergence_timeout", "epp_start_timeout")
_NESTED: dict[str, type] = {"implementation": ImplementationInfo, "observer": ObserverSettings}


def flag_name(option: str) -> str:
    """The command-line flag of an option (a key of ``FLAGS``)."""
    return FLAGS[option].name


def dest(option: str) -> str:
    """The pytest ``dest`` of an option's flag."""
    return "conformance_" + option.replace(".", "_")


def option_key(option: str) -> str:
    """The options-file key of an option: its dotted field path with dashes (``epp-command``)."""
    return option.replace("_", "-")


def default_of(option: str) -> Any:
    """The default value of an option (a dotted field path)."""
    group, _, name = option.rpartition(".")
    (spec,) = (f for f in fields(_NESTED[group] if group else ConformanceOptions) if f.name == name)
    if spec.default is not MISSING:
        return spec.default
    assert spec.default_factory is not MISSING, f"option {option} has no default"
    return spec.default_factory()


def shown_default(option: str) -> str | None:
    """The default as help and docs show it; ``None`` when there is none."""
    value = default_of(option)
    if FLAGS[option].default is not None:
        return FLAGS[option].default
    if value is None or value is False or value in ("", ()):
        return None
    return f"{value:g}" if isinstance(value, float) else str(value)


def flag_help(option: str) -> str:
    """The ``--help`` text of an option: what it means and its default."""
    default = shown_default(option)
    many = "; repeatable, comma-separated" if FLAGS[option].many else ""
    return FLAGS[option].help + many + (f" (default: {default})" if default is not None else "")


def add_flags(group: Any) -> None:
    """Declare every flag of ``FLAGS`` and ``--conformance-config`` in a pytest option group."""
    for option, flag in FLAGS.items():
        if flag.switch:
            group.addoption(flag.name, dest=dest(option), action="store_const", const=True, default=None,
                            help=flag_help(option))
            continue
        group.addoption(flag.name, dest=dest(option), metavar=flag.metavar, default=None,
                        action="append" if flag.many else "store", help=flag_help(option))
    group.addoption(CONFIG_FLAG, dest="conformance_config", metavar="FILE", default=None,
                    help="YAML file of conformance options (keys: the flags' option names); flags override it")


def load_options_file(path: Path) -> dict[str, Any]:
    """The options in a YAML options file, keyed by field path (``implementation.url``)."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as err:
        raise pytest.UsageError(f"{CONFIG_FLAG} {path}: cannot read: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise pytest.UsageError(f"{CONFIG_FLAG} {path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise pytest.UsageError(f"{CONFIG_FLAG} {path}: expected a mapping of options")
    values = _keyed(data, ConformanceOptions, path=path, prefix="")
    for group in _NESTED:
        nested = values.pop(group, None)
        if nested is not None:
            if not isinstance(nested, dict):
                raise pytest.UsageError(f"{path}: {group}: expected a mapping")
            values |= _keyed(nested, _NESTED[group], path=path, prefix=f"{group}.")
    return values


def _keyed(data: Mapping[Any, Any], owner: type, *, path: Path, prefix: str) -> dict[str, Any]:
    known = {option_key(f.name): f.name for f in fields(owner)}
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        where = f"{CONFIG_FLAG} {path}" + (f": {prefix.rstrip('.')}" if prefix else "")
        raise pytest.UsageError(f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return {prefix + known[key]: value for key, value in data.items()}


def build_options(*, file_values: Mapping[str, Any], flag_values: Mapping[str, Any],
                  file_path: Path | None = None, base_dir: Path,
                  presets: Callable[[], Collection[str]]) -> ConformanceOptions:
    """Defaults, then ``file_values``, then the flags that were given (not ``None``), validated.

    Both are keyed by option (dotted field path). Relative paths in the file are taken relative
    to the file, flags relative to ``base_dir``. ``presets`` lists the known EPP presets; it is
    only called when an ``epp`` value was given, so a run that names none never imports them.
    """
    options = ConformanceOptions()
    file_dir = file_path.parent if file_path else base_dir
    for option, value in file_values.items():
        options = _set(options, option, value, origin=f"{file_path}: {option_key(option)}", base=file_dir)
    for option, value in flag_values.items():
        if value is not None:
            options = _set(options, option, value, origin=flag_name(option), base=base_dir)
    _check_combination(options)
    if flag_values.get("epp") is not None or "epp" in file_values:
        _check_preset(options, presets)
    return options


def _set(options: ConformanceOptions, option: str, value: Any, *, origin: str,
         base: Path) -> ConformanceOptions:
    try:
        coerced = _coerce(option, value, base=base)
    except (TypeError, ValueError) as err:
        raise pytest.UsageError(f"{origin}: {err}") from None
    if "." not in option:
        return replace(options, **{option: coerced})
    group, name = option.split(".")
    return replace(options, **{group: replace(getattr(options, group), **{name: coerced})})


def _coerce(option: str, value: Any, *, base: Path) -> Any:
    if option in _PATHS:
        return (base / _text(value)).resolve()
    if option in _SECONDS:
        return _positive(value, float)
    if option == "profiles":
        return tuple(profile.name for profile in profiles_named(_names(value)))
    if option in ("supported_features", "exempt_features"):
        return _features(_names(value))
    if option == "topology":
        if value not in TOPOLOGIES:
            raise ValueError(f"expected one of {', '.join(TOPOLOGIES)}, got {value!r}")
        return value
    if option == "cluster":
        if value not in CLUSTER_MODES:
            raise ValueError(f"expected one of {', '.join(CLUSTER_MODES)}, got {value!r}")
        return value
    if option in _SWITCHES:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if option == "kind_cluster":
        name = _text(value)
        if not _KIND_NAME.fullmatch(name):
            raise ValueError(f"expected a kind cluster name (lower-case letters, digits, '.', '-'), got {name!r}")
        return name
    if option in ("epp_command", "epp_args"):
        return _template(value)
    if option == "implementation.url":
        return _url(value)
    if option == "implementation.contact":
        return tuple(_contact(item) for item in _names(value))
    if option.startswith("observer."):
        return _observer_value(option.split(".")[1], value)
    return _text(value)


def _text(value: Any) -> str:
    if not isinstance(value, str | Path) or not str(value).strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return str(value)


def _names(value: Any) -> list[str]:
    """One or more names: a string, a list of them, each possibly comma-separated."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(f"expected one or more names, got {value!r}")
    names = [name.strip() for item in items for name in _text(item).split(",")]
    if not all(names):
        raise ValueError(f"empty name in {value!r}")
    return names


def _features(names: list[str]) -> tuple[str, ...]:
    unknown = sorted(set(names) - set(Feature))
    if unknown:
        raise ValueError(f"unknown feature(s) {', '.join(unknown)}; known: {', '.join(Feature)}")
    return tuple(dict.fromkeys(names))


def _positive(value: Any, kind: type[float] | type[int]) -> float:
    what = "number of seconds" if kind is float else "whole number"
    if isinstance(value, bool) or kind is int and isinstance(value, float):
        raise ValueError(f"expected a positive {what}, got {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a {what}, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise ValueError(f"expected a positive {what}, got {value!r}")
    return number


def _observer_value(name: str, value: Any) -> Any:
    default = getattr(ObserverSettings(), name)
    if isinstance(default, str):
        return _text(value)
    return _positive(value, type(default))


_URL = re.compile(r"https?://[^\s/]+\S*")
_CONTACT = re.compile(r"@[\w-]+(/[\w-]+)?|[^@\s]+@[^@\s]+\.[^@\s]+|(https?://)?[\w-]+(\.[\w-]+)+(/\S*)?")
"""A GitHub handle or team (``@org/team``), an e-mail address, or a web address (scheme optional)."""


def _url(value: Any) -> str:
    url = _text(value)
    if not _URL.fullmatch(url):
        raise ValueError(f"expected an http(s) URL, got {url!r}")
    return url


def _contact(value: str) -> str:
    if not _CONTACT.fullmatch(value):
        raise ValueError(f"expected a GitHub @handle, an e-mail address or a web address, got {value!r}")
    return value


def _template(value: Any) -> str:
    template = _text(value)
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as err:
        raise ValueError(f"malformed template {template!r}: {err}") from None
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        raise ValueError(f"unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)} in"
                         f" {template!r}; known: {', '.join(sorted(PLACEHOLDERS))}")
    return template


def _check_preset(options: ConformanceOptions, presets: Callable[[], Collection[str]]) -> None:
    if options.epp_command is not None:
        raise pytest.UsageError(f"--epp {options.epp} and --epp-command both name the EPP; give one")
    if options.epp_args is not None:
        raise pytest.UsageError(f"--epp {options.epp} and --epp-args both give the EPP's arguments; give one")
    known = presets()
    if options.epp not in known:
        raise pytest.UsageError(f"--epp {options.epp}: unknown preset; known: {', '.join(sorted(known))}")


def _check_combination(options: ConformanceOptions) -> None:
    kubeconfig = flag_name("kubeconfig")
    if options.epp_image is not None and options.epp_command is not None:
        raise pytest.UsageError("--epp-image and --epp-command both say how to run the EPP; give one"
                                " (--epp-args gives the image's arguments)")
    if options.epp_args is not None and options.epp_image is None:
        raise pytest.UsageError("--epp-args gives the arguments of --epp-image, which is not given")
    if options.cluster == "existing" and options.kubeconfig is None:
        raise pytest.UsageError(f"--cluster existing needs {kubeconfig}")
    if options.cluster != "existing" and options.kubeconfig is not None:
        own = ("local mode starts its own control plane" if options.cluster == "local"
               else "--cluster kind creates its cluster or uses --kind-cluster NAME")
        raise pytest.UsageError(f"{kubeconfig} is only read with --cluster existing; {own}")
    if options.cluster != "kind":
        for option in ("kind_cluster", "keep_kind_cluster"):
            if getattr(options, option):
                raise pytest.UsageError(f"{flag_name(option)} is only read with --cluster kind")
    if options.kubeconfig is not None and not options.kubeconfig.is_file():
        raise pytest.UsageError(f"{kubeconfig} {options.kubeconfig}: no such file")
    if options.control_plane_bin_dir is not None and not options.control_plane_bin_dir.is_dir():
        raise pytest.UsageError(f"--control-plane-bin-dir {options.control_plane_bin_dir}: no such folder")
    _check_topology(options)


def topology_of(options: ConformanceOptions) -> str:
    """The topology of the run: ``--topology``, else derived from the cluster and ``--epp-image``."""
    if options.topology is not None:
        return options.topology
    if options.cluster == "kind" or options.cluster == "existing" and options.epp_image is not None:
        return IN_CLUSTER
    return VIRTUAL_PODS


def _check_topology(options: ConformanceOptions) -> None:
    if topology_of(options) == VIRTUAL_PODS:
        if options.fakes_image is not None:
            raise pytest.UsageError("--fakes-image is only read with --topology in-cluster")
        return
    why = "--topology in-cluster" if options.topology else f"--cluster {options.cluster} (in-cluster topology)"
    if options.cluster == "local":
        raise pytest.UsageError(f"{why} needs real nodes: --cluster kind or existing; the local control"
                                " plane runs no kubelet")
    if options.epp_image is None:
        raise pytest.UsageError(f"{why} needs --epp-image: the EPP under test runs as a Deployment of it"
                                " (or give --topology virtual-pods)")
    if options.fakes_image is None and options.cluster != "kind":
        raise pytest.UsageError(f"{why} needs --fakes-image: the image of this project's fakes on the"
                                " cluster's nodes (scripts/build-images.sh builds it)")
    if options.epp_args is not None and "{kubeconfig}" in options.epp_args:
        raise pytest.UsageError(f"--epp-args {options.epp_args!r}: {{kubeconfig}} is not filled in-cluster; the"
                                " EPP runs with its service account (in-cluster config)")
