"""The pytest plugin (entry point ``pytest11``) that runs the conformance suite.

Loaded in every pytest run of an environment with eppconf installed, so it stays light: it adds
the ``eppconf conformance`` options, builds the options object and lets the word ``conformance``
name this package's suite wherever pytest runs; fixtures start a cluster, fake servers and the EPP
only when a conformance test asks for them. Result states are decided in
``pytest_runtest_makereport`` alone; the report is written once, at the end of the session.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance import report as reports
from conformance.catalogue import IN_CLUSTER, ConformanceTest
from conformance.features import profiles_named
from conformance.options import (
    FLAGS,
    ConformanceOptions,
    add_flags,
    build_options,
    dest,
    load_options_file,
    topology_of,
)
from conformance.report import ResultState, TestResult
from eppconf import __version__

if TYPE_CHECKING:
    from conformance.harness.cluster import Cluster, KindProvision
    from conformance.harness.epp import EppLauncher
    from conformance.harness.incluster.agentpod import AgentPod
    from conformance.harness.kubelet import AddressPool
    from conformance.harness.session import Harness, PodKubelet

SUITE_WORD = "conformance"  # as eppconf.conformance_cli names it
"""``pytest conformance`` runs this package's suite when the invocation dir has no such path."""
TEST_PROPERTY, RULES_PROPERTY = "eppconf-test", "eppconf-rules"
"""``user_properties`` of every conformance item (in JUnit XML too): its catalogue name and rules."""
STATE_PROPERTY, MESSAGE_PROPERTY = "eppconf-state", "eppconf-message"
"""``user_properties`` of the report that decides a test's state; they survive pytest-xdist transport."""
NOT_SUPPORTED_REASON = "not supported by the chosen profiles"
EXEMPT_REASON = "not supported by the implementation"
NOT_APPLICABLE_REASON = "not applicable to the {topology} topology"


@dataclass(eq=False)  # registered as a plugin, so it must hash by identity
class ConformanceRun:
    """The options of this run, the results gathered so far and, at the end, the report.

    Registered as a plugin of its own; on pytest-xdist only the controller (which receives every
    worker's reports) writes the report.
    """

    config: pytest.Config
    options: ConformanceOptions
    is_worker: bool
    results: dict[str, TestResult] = field(default_factory=dict)
    report: dict[str, Any] | None = None

    @pytest.hookimpl(tryfirst=True)  # before JUnit XML writes the test case
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = {str(key): str(value) for key, value in report.user_properties}
        name = properties.get(TEST_PROPERTY)
        if name is None:
            return
        _name_junit_case(self.config, report, name)
        state = properties.get(STATE_PROPERTY)
        earlier = self.results.get(name)
        if state is not None and (earlier is None or earlier.state is not ResultState.FAILED):
            self.results[name] = TestResult(ResultState(state), properties.get(MESSAGE_PROPERTY, ""))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker or not self.results:
            return
        from conformance.suite import SUITE

        options = self.options
        self.report = reports.build_report(
            registry=SUITE, results=self.results, profiles=profiles_named(options.profiles),
            implementation=implementation_of(options),
            supported_features=set(options.supported_features) - set(options.exempt_features),
            mode=options.cluster, eppconf_version=__version__, spec=reports.spec_version(),
            topology=topology_of(options))
        if options.report_output is not None:
            reports.write(self.report, options.report_output)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.report is None:
            return
        terminalreporter.section("eppconf conformance report")
        terminalreporter.write(reports.summary_table(self.report))
        if self.options.report_output is not None:
            terminalreporter.write_line(f"report written to {self.options.report_output}")


def _name_junit_case(config: pytest.Config, report: pytest.TestReport, name: str) -> None:
    """Give the report's JUnit XML test case (``--junitxml``) the catalogue name as its name.

    JUnit XML has no public way to name a test case; a pytest without this private key keeps
    pytest's name (the catalogue name is in the ``eppconf-test`` property either way).
    """
    try:
        from _pytest.junitxml import xml_key
    except ImportError:
        return
    xml = config.stash.get(xml_key, None)
    if xml is not None:
        xml.node_reporter(report).add_attribute("name", name)


@dataclass(eq=False)
class KindClusterOwner:
    """Makes the kind cluster of a ``--cluster kind`` run once, before any test, and deletes it at
    the very end (unless kept). Registered in the process that owns the run only: the
    pytest-xdist controller hands the result to each worker it starts."""

    options: ConformanceOptions
    provision: KindProvision | None = None
    cluster: Any = None
    """The ``eppconf.kind.KindCluster``, once made."""

    @pytest.hookimpl(tryfirst=True)  # before pytest-xdist's (trylast) starts the workers
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from conformance.harness.cluster import KindProvision, provision_kind

        if session.config.option.collectonly:
            return
        try:
            self.cluster, fakes_image = provision_kind(self.options)
        except Exception as err:  # noqa: BLE001 - every test that needs the cluster fails with it
            self.provision = KindProvision(problem=str(err))
            return
        self.provision = KindProvision(kubeconfig=str(self.cluster.kubeconfig), fakes_image=fakes_image)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: give a worker the run's kind cluster."""
        if self.provision is not None:
            node.workerinput[KIND_INPUT] = asdict(self.provision)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.cluster is not None and self.options.keep_kind_cluster:
            name = self.cluster.name
            terminalreporter.write_line(f"kind cluster {name} kept: reuse it with --cluster kind --kind-cluster"
                                        f" {name}, delete it with kind delete cluster --name {name}")

    def pytest_unconfigure(self) -> None:
        """After every fixture and worker is done (also after a failed or interrupted start)."""
        if self.cluster is not None:
            self.cluster.stop()


KIND_INPUT = "eppconf_kind"
"""The ``workerinput`` key of the run's ``KindProvision``."""
_RUN = pytest.StashKey[ConformanceRun]()
_KIND = pytest.StashKey[KindClusterOwner]()
_SKIP_STATE = pytest.StashKey[ResultState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_flags(parser.getgroup("eppconf conformance", "eppconf conformance suite"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: starts real processes (control plane, EPP, Go-built peers)")
    invocation_dir = Path(config.invocation_params.dir)
    config.args[:] = [suite_path(arg, invocation_dir) for arg in config.args]
    config_file = config.getoption("conformance_config")
    file_path = Path(config_file).resolve() if config_file else None
    file_values = load_options_file(file_path) if file_path else {}
    flags = {option: config.getoption(dest(option)) for option in FLAGS}
    options = build_options(file_values=file_values, flag_values=flags, file_path=file_path,
                            base_dir=invocation_dir, presets=_preset_names)
    run = ConformanceRun(config, options, is_worker=hasattr(config, "workerinput"))
    if options.epp_image is not None and topology_of(options) != IN_CLUSTER and not run.is_worker:
        _check_docker(options.epp_image)
    if options.cluster == "kind" and not run.is_worker:
        _check_kind(options)
        config.stash[_KIND] = KindClusterOwner(options)
        config.pluginmanager.register(config.stash[_KIND], "eppconf-kind-cluster")
    config.stash[_RUN] = run
    config.pluginmanager.register(run, "eppconf-conformance-run")


def _check_kind(options: ConformanceOptions) -> None:
    """One usage error, before any cluster starts, when ``--cluster kind`` cannot run here."""
    from conformance.harness.cluster import kind_problem

    problem = kind_problem(options)
    if problem is not None:
        raise pytest.UsageError(f"--cluster kind: {problem}")


def _kind_provision(config: pytest.Config) -> KindProvision | None:
    """The run's kind cluster: made here, or handed over by the pytest-xdist controller."""
    from conformance.harness.cluster import KindProvision

    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        given = workerinput.get(KIND_INPUT)
        return KindProvision(**given) if given is not None else None
    owner = config.stash.get(_KIND, None)
    return owner.provision if owner is not None else None


def _check_docker(image: str) -> None:
    """One usage error, before any cluster starts, when Docker cannot run ``--epp-image``."""
    from conformance.harness.container import docker_problem

    problem = docker_problem(image)
    if problem is not None:
        raise pytest.UsageError(f"--epp-image {image}: {problem}")


def suite_path(arg: str, invocation_dir: Path) -> str:
    """``arg``, or, if it is ``conformance`` or a path or node id under it that the invocation
    dir lacks, the same path in this package."""
    path, separator, rest = arg.partition("::")
    parts = Path(path).parts
    if not parts or parts[0] != SUITE_WORD or (invocation_dir / SUITE_WORD).exists():
        return arg
    return str(Path(__file__).parent.joinpath(*parts[1:])) + separator + rest


def _preset_names() -> list[str]:
    from conformance.implementations import IMPLEMENTATIONS

    return list(IMPLEMENTATIONS)


def conformance_test_of(item: pytest.Item) -> ConformanceTest | None:
    """The conformance test an item runs, if it is one."""
    callspec = getattr(item, "callspec", None)
    test = callspec.params.get("conformance_test") if callspec else None
    return test if isinstance(test, ConformanceTest) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    options = config.stash[_RUN].options
    profiles = profiles_named(options.profiles)
    topology = topology_of(options)
    for item in items:
        test = conformance_test_of(item)
        if test is None:
            continue
        item.user_properties += [(TEST_PROPERTY, test.name), (RULES_PROPERTY, " ".join(test.rules))]
        needs = ", ".join(sorted(test.features))
        why_not = test.not_applicable_to(topology)
        if why_not is not None:
            item.stash[_SKIP_STATE] = ResultState.NOT_APPLICABLE
            item.add_marker(pytest.mark.skip(reason=f"{NOT_APPLICABLE_REASON.format(topology=topology)}: {why_not}"))
        elif not any(profile.covers(test.features) for profile in profiles):
            item.stash[_SKIP_STATE] = ResultState.NOT_SUPPORTED
            item.add_marker(pytest.mark.skip(reason=f"{NOT_SUPPORTED_REASON} (needs {needs})"))
        elif not options.supports(test.features):
            item.stash[_SKIP_STATE] = ResultState.EXEMPT
            item.add_marker(pytest.mark.skip(reason=f"{EXEMPT_REASON} (needs {needs})"))


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
        state = item.stash.get(_SKIP_STATE, ResultState.SKIPPED)
    else:
        state = ResultState.FAILED if report.failed else ResultState.PASSED
    report.user_properties.append((STATE_PROPERTY, str(state)))
    if report.failed:
        report.user_properties.append((MESSAGE_PROPERTY, first_line(report)))
    elif state is ResultState.NOT_APPLICABLE:
        report.user_properties.append((MESSAGE_PROPERTY, test.virtual_pods_only))
    return report


def first_line(report: pytest.TestReport) -> str:
    """The first non-empty line of a failed report's message."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def implementation_of(options: ConformanceOptions) -> dict[str, Any]:
    """Who is certified and the command run, as the report states them: the given metadata,
    else the preset's; the command (with ``--epp-image``: the image and its entrypoint's
    arguments) with its placeholders filled but ports (fixed in-cluster) and namespace."""
    from conformance.harness.epp import LOOPBACK
    from conformance.harness.session import POOL_NAME
    from conformance.implementations import ImplementationError, fill_command, get_implementation

    custom = options.epp_command or options.epp_args
    if custom is not None:
        known: dict[str, Any] = {"project": "custom", "version": "unknown"}
        template = custom
    else:
        preset = get_implementation(options.epp)
        known = {"organization": preset.organization, "project": preset.project or preset.name,
                 "url": preset.url, "version": preset.version}
        try:
            template = preset.args_template() if options.epp_image else preset.command_template()
        except ImplementationError:
            template = preset.command
    given = {key: value for key, value in asdict(options.implementation).items() if value}
    metadata = known | given
    values: dict[str, object] = {"python": sys.executable, "pool": POOL_NAME, "bind_address": LOOPBACK}
    if topology_of(options) == IN_CLUSTER:
        from conformance.harness.incluster.deployment import BIND_ADDRESS_IN_POD, PYTHON_IN_POD
        from conformance.harness.incluster.render import EPP_PORTS

        values |= {"python": PYTHON_IN_POD, "bind_address": BIND_ADDRESS_IN_POD, "grpc_port": EPP_PORTS.grpc,
                   "grpc_health_port": EPP_PORTS.grpc_health, "metrics_port": EPP_PORTS.metrics}
        metadata["image"] = options.epp_image
    elif options.epp_image is not None:
        from conformance.harness.container import KUBECONFIG_IN_CONTAINER, PYTHON_IN_CONTAINER

        values |= {"python": PYTHON_IN_CONTAINER, "kubeconfig": KUBECONFIG_IN_CONTAINER}
        metadata["image"] = options.epp_image
    elif options.kubeconfig is not None:
        values["kubeconfig"] = options.kubeconfig
    argv = fill_command(template, values)
    fields = ("organization", "project", "url", "version", "contact", "image")
    return {key: list(metadata[key]) if key == "contact" else metadata[key]
            for key in fields if metadata.get(key)} | {"command": _command_line(argv)}


def _command_line(argv: list[str]) -> str:
    """The command as a report shows it: the program by its file name (where this machine keeps it
    says nothing about the implementation), the arguments as a shell line shows them."""
    program = Path(argv[0]).name if argv and Path(argv[0]).is_absolute() else None
    return " ".join(map(_shown, [program, *argv[1:]] if program else argv))


def _shown(argument: str) -> str:
    """A command argument as a shell line shows it; a placeholder left as it is stays unquoted."""
    return argument if re.fullmatch(r"[\w@%+=:,./{}-]+", argument) else shlex.quote(argument)


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


@pytest.fixture(scope="session")
def conformance_options(pytestconfig: pytest.Config) -> ConformanceOptions:
    """The options of this conformance run."""
    return pytestconfig.stash[_RUN].options


@pytest.fixture(scope="session")
def conformance_cluster(pytestconfig: pytest.Config, conformance_options: ConformanceOptions) -> Iterator[Cluster]:
    """The cluster of this run (local control plane, the run's kind cluster or an existing
    cluster), set up once per process."""
    from conformance.harness.cluster import open_cluster

    with ExitStack() as stack:
        problem = None
        try:
            cluster = stack.enter_context(open_cluster(conformance_options, kind=_kind_provision(pytestconfig)))
        except Exception as err:  # noqa: BLE001 - any setup failure becomes one clear message
            problem = f"cannot set up the {conformance_options.cluster} cluster: {err}"
        if problem is not None:
            pytest.fail(problem, pytrace=False)
        yield cluster


@pytest.fixture(scope="session")
def conformance_agent(conformance_options: ConformanceOptions, conformance_cluster: Cluster,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentPod]:
    """The in-cluster topology's agent pod and the port-forward to it, one per session (and worker)."""
    from conformance.harness.incluster.agentpod import AgentPod

    image = conformance_options.fakes_image or conformance_cluster.fakes_image
    if image is None:
        pytest.fail(f"the in-cluster topology needs the fakes' image: --fakes-image (the {conformance_cluster.mode}"
                    " cluster provider put none on the nodes)", pytrace=False)
    agent = AgentPod(conformance_cluster.api, kubeconfig=conformance_cluster.epp_kubeconfig, image=image,
                     log_dir=tmp_path_factory.mktemp("agent-logs"))
    problem = None
    try:
        agent.start()
    except Exception as err:  # noqa: BLE001 - any setup failure becomes one clear message
        problem = f"cannot start the in-cluster agent: {err}"
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    try:
        yield agent
    finally:
        agent.close()


@pytest.fixture(scope="session")
def conformance_launcher(request: pytest.FixtureRequest, conformance_options: ConformanceOptions,
                         tmp_path_factory: pytest.TempPathFactory) -> EppLauncher:
    """Starts the EPP under test: a Deployment in-cluster, else ``--epp-image``, ``--epp-command`` or
    the ``--epp`` preset."""
    from conformance.harness.epp import ProcessEpp
    from conformance.implementations import ImplementationError, get_implementation

    log_dir = tmp_path_factory.mktemp("epp-logs")
    timeout = conformance_options.epp_start_timeout
    if topology_of(conformance_options) == IN_CLUSTER:
        return _deployment_launcher(conformance_options, request.getfixturevalue("conformance_cluster"),
                                    request.getfixturevalue("conformance_agent"))
    if conformance_options.epp_image is not None:
        return _container_launcher(conformance_options, log_dir)
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


def _container_launcher(options: ConformanceOptions, log_dir: Path) -> EppLauncher:
    """``--epp-image`` run with ``--epp-args`` or the ``--epp`` preset's arguments."""
    from conformance.harness.container import ContainerEpp
    from conformance.implementations import get_implementation

    assert options.epp_image is not None
    timeout = options.epp_start_timeout
    if options.epp_args is not None:
        return ContainerEpp(options.epp_image, options.epp_args, log_dir=log_dir, startup_timeout=timeout)
    preset = get_implementation(options.epp)
    return ContainerEpp(options.epp_image, preset.args_template(), log_dir=log_dir, name=preset.name,
                        tls=preset.tls, health_service=preset.health_service, startup_timeout=timeout)


def _deployment_launcher(options: ConformanceOptions, cluster: Cluster, agent: AgentPod) -> EppLauncher:
    """``--epp-image`` as a Deployment, with ``--epp-args`` or the ``--epp`` preset's arguments."""
    from conformance.harness.incluster.deployment import DeploymentEpp
    from conformance.implementations import get_implementation

    assert options.epp_image is not None  # checked by the options
    timeout = options.epp_start_timeout
    if options.epp_args is not None:
        return DeploymentEpp(options.epp_image, options.epp_args, api=cluster.api, agent=agent,
                             startup_timeout=timeout)
    preset = get_implementation(options.epp)
    return DeploymentEpp(options.epp_image, preset.args_template(), api=cluster.api, agent=agent, name=preset.name,
                         tls=preset.tls, health_service=preset.health_service, startup_timeout=timeout)


@pytest.fixture(scope="session")
def conformance_fake_runtime() -> Iterator[Any]:
    """One fake-server runtime (an asyncio loop in a thread) for every pod of the run."""
    from fakes import FakeRuntime

    with FakeRuntime() as runtime:
        yield runtime


@pytest.fixture(scope="session")
def conformance_addresses() -> Iterator[AddressPool]:
    """Pod IPs for this process: a 127.N.0.0/16 no other live run or worker holds."""
    from conformance.harness.kubelet import AddressPool

    with AddressPool() as addresses:
        yield addresses


@pytest.fixture
def conformance_harness(request: pytest.FixtureRequest, conformance_test: ConformanceTest,
                        conformance_options: ConformanceOptions, conformance_cluster: Cluster,
                        conformance_launcher: EppLauncher) -> Iterator[Harness]:
    """A fresh namespace, kubelet and harness for one conformance test; all torn down after it."""
    from conformance.harness.cluster import create_namespace, delete_namespace
    from conformance.harness.session import Harness, HarnessSettings

    api = conformance_cluster.api
    namespace = create_namespace(api, prefix=f"eppconf-{_kebab(conformance_test.name)}")
    with ExitStack() as stack:
        stack.callback(delete_namespace, api, namespace)
        kubelet, proxy = _kubelet(request, conformance_options, conformance_cluster, namespace)
        stack.callback(kubelet.close)
        settings = HarnessSettings(convergence_timeout=conformance_options.convergence_timeout,
                                   observer=conformance_options.observer)
        yield stack.enter_context(Harness(cluster=conformance_cluster, namespace=namespace,
                                          kubelet=kubelet, launcher=conformance_launcher,
                                          settings=settings, proxy=proxy))


def _kubelet(request: pytest.FixtureRequest, options: ConformanceOptions, cluster: Cluster,
             namespace: str) -> tuple[PodKubelet, tuple[str, int] | None]:
    """The kubelet of the run's topology for one test's namespace, and the proxy that reaches its pods."""
    if topology_of(options) == IN_CLUSTER:
        from conformance.harness.incluster.kubelet import ClusterKubelet

        agent: AgentPod = request.getfixturevalue("conformance_agent")
        return ClusterKubelet(cluster.api, namespace=namespace, image=agent.image,
                              proxy_url=agent.proxy_url), agent.proxy
    from conformance.harness.kubelet import Kubelet
    from fakes import PortConfig

    return Kubelet(cluster.api, namespace=namespace, runtime=request.getfixturevalue("conformance_fake_runtime"),
                   addresses=request.getfixturevalue("conformance_addresses"), server_config=PortConfig()), None
