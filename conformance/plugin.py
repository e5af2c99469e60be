"""The pytest plugin (entry point ``pytest11``) that runs the conformance suite.

Loaded in every pytest run of an environment with eppconf installed, so it stays light: it adds
the ``eppconf conformance`` options and builds the options object; fixtures start a cluster, fake
servers and the EPP only when a conformance test asks for them. Result states are decided in
``pytest_runtest_makereport`` alone; the report is written once, at the end of the session.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance import report as reports
from conformance.catalogue import ConformanceTest
from conformance.features import profiles_named
from conformance.options import ConformanceOptions, build_options, flag_name, load_options_file
from conformance.report import ResultState
from eppconf import __version__

if TYPE_CHECKING:
    from conformance.harness.cluster import Cluster
    from conformance.harness.epp import EppLauncher
    from conformance.harness.kubelet import AddressPool
    from conformance.harness.session import Harness

STATE_PROPERTY = "eppconf-conformance-state"
"""``user_properties`` key carrying ``(test name, state)``; survives pytest-xdist transport."""
NOT_SUPPORTED_REASON = "not supported by the chosen profiles"

_FLAGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("epp", {"metavar": "PRESET", "help": "EPP preset from conformance.implementations"
                                          " (default: reference)"}),
    ("epp_command", {"metavar": "TEMPLATE", "help": "run any EPP as a local process; placeholders"
                     " {pool} {namespace} {grpc_port} {grpc_health_port} {metrics_port}"
                     " {kubeconfig} {python}"}),
    ("epp_image", {"metavar": "IMAGE", "help": "run the EPP as a container (cluster mode;"
                                               " not implemented yet)"}),
    ("cluster", {"choices": ("local", "kind", "existing"), "help": "where pods and pools live"
                 " (default: local, an own etcd + kube-apiserver)"}),
    ("kubeconfig", {"metavar": "FILE", "help": "kubeconfig of --cluster existing"}),
    ("control_plane_bin_dir", {"metavar": "DIR", "help": "folder with etcd and kube-apiserver"
                               " (default: KUBEBUILDER_ASSETS, then the eppconf cache)"}),
    ("profiles", {"action": "append", "metavar": "NAME",
                  "help": "profile to certify, repeatable (default: all)"}),
    ("report_output", {"metavar": "PATH", "help": "write the YAML conformance report here"}),
    ("convergence_timeout", {"metavar": "SECONDS", "help": "time the EPP gets to reflect a"
                             " change (default: 10)"}),
    ("epp_start_timeout", {"metavar": "SECONDS", "help": "time the EPP gets to become"
                           " SERVING (default: 30)"}),
)


@dataclass(eq=False)  # registered as a plugin, so it must hash by identity
class ConformanceRun:
    """The options of this run, the results gathered so far and, at the end, the report.

    Registered as a plugin of its own; on pytest-xdist only the controller (which receives every
    worker's reports) writes the report.
    """

    options: ConformanceOptions
    is_worker: bool
    results: dict[str, ResultState] = field(default_factory=dict)
    report: dict[str, Any] | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key == STATE_PROPERTY:
                name, state = value
                if self.results.get(name) is not ResultState.FAILED:
                    self.results[name] = ResultState(state)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker or not self.results:
            return
        from conformance.suite import SUITE

        self.report = reports.build_report(
            registry=SUITE, results=self.results, profiles=profiles_named(self.options.profiles),
            implementation=implementation_of(self.options), mode=self.options.cluster,
            eppconf_version=__version__)
        if self.options.report_output is not None:
            reports.write(self.report, self.options.report_output)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.report is None:
            return
        terminalreporter.section("eppconf conformance report")
        terminalreporter.write(reports.render(self.report))
        if self.options.report_output is not None:
            terminalreporter.write_line(f"report written to {self.options.report_output}")


_RUN = pytest.StashKey[ConformanceRun]()
_UNSUPPORTED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("eppconf conformance", "eppconf conformance suite")
    for name, spec in _FLAGS:
        group.addoption(flag_name(name), dest=f"conformance_{name}", default=None, **spec)
    group.addoption("--conformance-config", dest="conformance_config", metavar="FILE", default=None,
                    help="YAML file of conformance options; flags override it")


def pytest_configure(config: pytest.Config) -> None:
    config_file = config.getoption("conformance_config")
    file_path = Path(config_file).resolve() if config_file else None
    file_values = load_options_file(file_path) if file_path else {}
    flags = {name: config.getoption(f"conformance_{name}") for name, _ in _FLAGS}
    options = build_options(file_values=file_values, flag_values=flags, file_path=file_path,
                            base_dir=Path(config.invocation_params.dir), presets=_preset_names)
    run = ConformanceRun(options, is_worker=hasattr(config, "workerinput"))
    config.stash[_RUN] = run
    config.pluginmanager.register(run, "eppconf-conformance-run")


def _preset_names() -> list[str]:
    from conformance.implementations import IMPLEMENTATIONS

    return list(IMPLEMENTATIONS)


def conformance_test_of(item: pytest.Item) -> ConformanceTest | None:
    """The conformance test an item runs, if it is one."""
    callspec = getattr(item, "callspec", None)
    test = callspec.params.get("conformance_test") if callspec else None
    return test if isinstance(test, ConformanceTest) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    profiles = profiles_named(config.stash[_RUN].options.profiles)
    for item in items:
        test = conformance_test_of(item)
        if test is None:
            continue
        supported = any(profile.covers(test.features) for profile in profiles)
        item.stash[_UNSUPPORTED] = not supported
        if not supported:
            needs = ", ".join(sorted(test.features))
            item.add_marker(pytest.mark.skip(reason=f"{NOT_SUPPORTED_REASON} (needs {needs})"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
        None, pytest.TestReport, pytest.TestReport]:
    """The one place that turns a pytest outcome into a conformance result state."""
    report = yield
    test = conformance_test_of(item)
    if test is None:
        return report
    if report.when == "setup" and report.passed or report.when == "teardown" and not report.failed:
        return report
    if report.skipped:
        state = ResultState.NOT_SUPPORTED if item.stash.get(_UNSUPPORTED, False) else ResultState.SKIPPED
    else:
        state = ResultState.FAILED if report.failed else ResultState.PASSED
    report.user_properties.append((STATE_PROPERTY, (test.name, str(state))))
    return report


def implementation_of(options: ConformanceOptions) -> dict[str, str]:
    """Name, version and command of the EPP under test, as the report states them."""
    from conformance.implementations import get_implementation

    info = options.implementation
    if options.epp_command is not None:
        name, command, version = "custom", options.epp_command, "unknown"
    else:
        preset = get_implementation(options.epp)
        name, command, version = preset.name, preset.command, preset.version
    return {"name": info.name or name, "version": info.version or version, "command": command}


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _worker_index(config: pytest.Config) -> int:
    worker = getattr(config, "workerinput", {}).get("workerid", "gw0")
    return int(worker.removeprefix("gw"))


@pytest.fixture(scope="session")
def conformance_options(pytestconfig: pytest.Config) -> ConformanceOptions:
    """The options of this conformance run."""
    return pytestconfig.stash[_RUN].options


@pytest.fixture(scope="session")
def conformance_cluster(conformance_options: ConformanceOptions) -> Iterator[Cluster]:
    """The cluster of this run (local control plane or an existing cluster), set up once."""
    from conformance.harness.cluster import open_cluster

    with ExitStack() as stack:
        problem = None
        try:
            cluster = stack.enter_context(open_cluster(conformance_options))
        except Exception as err:  # noqa: BLE001 - any setup failure becomes one clear message
            problem = f"cannot set up the {conformance_options.cluster} cluster: {err}"
        if problem is not None:
            pytest.fail(problem, pytrace=False)
        yield cluster


@pytest.fixture(scope="session")
def conformance_launcher(conformance_options: ConformanceOptions,
                         tmp_path_factory: pytest.TempPathFactory) -> EppLauncher:
    """Starts the EPP under test: ``--epp-command`` or the ``--epp`` preset."""
    from conformance.harness.epp import ProcessEpp
    from conformance.implementations import ImplementationError, get_implementation

    log_dir = tmp_path_factory.mktemp("epp-logs")
    timeout = conformance_options.epp_start_timeout
    if conformance_options.epp_command is not None:
        return ProcessEpp(conformance_options.epp_command, log_dir=log_dir, startup_timeout=timeout)
    preset = get_implementation(conformance_options.epp)
    try:
        template = preset.command_template()
    except ImplementationError as err:
        template, problem = "", f"--epp {preset.name}: {err}"
    if not template:
        pytest.fail(problem, pytrace=False)
    return ProcessEpp(template, log_dir=log_dir, name=preset.name, tls=preset.tls,
                      health_service=preset.health_service, startup_timeout=timeout)


@pytest.fixture(scope="session")
def conformance_fake_runtime() -> Iterator[Any]:
    """One fake-server runtime (an asyncio loop in a thread) for every pod of the run."""
    from fakes import FakeRuntime

    with FakeRuntime() as runtime:
        yield runtime


@pytest.fixture(scope="session")
def conformance_addresses(pytestconfig: pytest.Config) -> AddressPool:
    """Pod IPs for this run: a 127.x.0.0/16 of its own per pytest-xdist worker."""
    from conformance.harness.kubelet import AddressPool

    return AddressPool(worker_index=_worker_index(pytestconfig))


@pytest.fixture
def conformance_harness(request: pytest.FixtureRequest, conformance_test: ConformanceTest,
                        conformance_options: ConformanceOptions, conformance_cluster: Cluster,
                        conformance_launcher: EppLauncher, conformance_fake_runtime: Any,
                        conformance_addresses: AddressPool) -> Iterator[Harness]:
    """A fresh namespace, kubelet and harness for one conformance test; all torn down after it."""
    from conformance.harness.cluster import create_namespace, delete_namespace
    from conformance.harness.kubelet import Kubelet
    from conformance.harness.session import Harness, HarnessSettings
    from fakes import PortConfig

    api = conformance_cluster.api
    namespace = create_namespace(api, prefix=f"eppconf-{_kebab(conformance_test.name)}")
    with ExitStack() as stack:
        stack.callback(delete_namespace, api, namespace)
        kubelet = Kubelet(api, namespace=namespace, runtime=conformance_fake_runtime,
                          addresses=conformance_addresses, server_config=PortConfig())
        stack.callback(kubelet.close)
        settings = HarnessSettings(convergence_timeout=conformance_options.convergence_timeout)
        yield stack.enter_context(Harness(cluster=conformance_cluster, namespace=namespace,
                                          kubelet=kubelet, launcher=conformance_launcher,
                                          settings=settings))
