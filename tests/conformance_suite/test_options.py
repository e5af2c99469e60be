"""Conformance options: layering of defaults, options file and flags; every bad value a UsageError."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from conformance.harness.settings import ObserverSettings
from conformance.options import (
    CONFIG_FLAG,
    FLAGS,
    ConformanceOptions,
    ImplementationInfo,
    build_options,
    flag_help,
    load_options_file,
    topology_of,
)

pytest_plugins = ["pytester"]


def presets() -> list[str]:
    return ["reference", "gie-v1.5.0"]


def build(tmp_path: Path, *, file: dict | None = None, **flags: object) -> ConformanceOptions:
    return build_options(file_values=file or {}, flag_values=flags, file_path=tmp_path / "opts.yaml",
                         base_dir=tmp_path, presets=presets)


def test_defaults_run_the_reference_epp_on_a_local_control_plane(tmp_path: Path) -> None:
    options = build(tmp_path)
    assert (options.epp, options.epp_command, options.cluster) == ("reference", None, "local")
    assert options.profiles == ("TargetPorts", "ActivePorts", "PortDiscovery")


def test_flags_override_the_file_which_overrides_defaults(tmp_path: Path) -> None:
    options = build(tmp_path, file={"convergence_timeout": 5, "profiles": ["TargetPorts"]},
                    convergence_timeout="7", profiles=None)
    assert options.convergence_timeout == 7.0
    assert options.profiles == ("TargetPorts",)


def test_relative_paths_resolve_against_their_origin(tmp_path: Path) -> None:
    options = build(tmp_path, file={"report_output": "out/report.yaml"})
    assert options.report_output == tmp_path / "out" / "report.yaml"


def test_options_are_plain_data(tmp_path: Path) -> None:
    data = build(tmp_path, report_output="r.yaml").to_dict()
    assert data["report_output"] == str(tmp_path / "r.yaml")
    assert data["profiles"] == ["TargetPorts", "ActivePorts", "PortDiscovery"]
    assert data["implementation"] == {"organization": "", "project": "", "url": "", "version": "",
                                      "contact": []}
    assert data["observer"]["settle"] == 1.0
    assert yaml.safe_load(yaml.safe_dump(data)) == data


def test_options_file_keys_are_flag_names(tmp_path: Path) -> None:
    path = tmp_path / "opts.yaml"
    path.write_text("epp-command: '{python} -m my_epp --pool {pool}'\nconvergence-timeout: 3\n")
    assert load_options_file(path) == {"epp_command": "{python} -m my_epp --pool {pool}",
                                       "convergence_timeout": 3}


@pytest.mark.parametrize(("content", "message"), [
    ("colour: red\n", "unknown option(s) colour"),
    ("- a\n", "expected a mapping of options"),
    ("a: [\n", "not valid YAML"),
])
def test_a_bad_options_file_is_a_usage_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "opts.yaml"
    path.write_text(content)
    with pytest.raises(pytest.UsageError, match=f"{path}.*{message}".replace("(", r"\(").replace(")", r"\)")):
        load_options_file(path)


@pytest.mark.parametrize(("flags", "message"), [
    ({"kind_cluster": "dev"}, "--kind-cluster is only read with --cluster kind"),
    ({"keep_kind_cluster": True}, "--keep-kind-cluster is only read with --cluster kind"),
    ({"cluster": "kind", "kind_cluster": "Dev_1"}, "--kind-cluster: expected a kind cluster name"),
    ({"cluster": "kind", "kubeconfig": "k"}, "--cluster-kubeconfig is only read with --cluster existing;"
                                             " --cluster kind creates its cluster or uses --kind-cluster"),
    ({"cluster": "moon"}, "--cluster: expected one of local, kind, existing, got 'moon'"),
    ({"epp_image": "epp:1", "epp_command": "x"}, "--epp-image and --epp-command both say how"),
    ({"epp_args": "--pool {pool}"}, "--epp-args gives the arguments of --epp-image, which is not given"),
    ({"epp_image": "epp:1", "epp": "reference", "epp_args": "x"}, "--epp reference and --epp-args both"),
    ({"epp_image": "epp:1", "epp_args": "--p {port}"}, r"--epp-args: unknown placeholder\(s\) \{port\}"),
    ({"cluster": "existing"}, "--cluster existing needs --cluster-kubeconfig"),
    ({"cluster": "existing", "kubeconfig": "nope"}, "--cluster-kubeconfig .*nope: no such file"),
    ({"kubeconfig": "k"}, "--cluster-kubeconfig is only read with --cluster existing"),
    ({"control_plane_bin_dir": "nope"}, "--control-plane-bin-dir .*nope: no such folder"),
    ({"epp": "nginx"}, "--epp nginx: unknown preset; known: gie-v1.5.0, reference"),
    ({"epp": "reference", "epp_command": "x"}, "both name the EPP"),
    ({"epp_command": "epp --port {port}"}, r"unknown placeholder\(s\) \{port\}"),
    ({"epp_command": "epp {pool"}, "malformed template"),
    ({"profiles": ["TargetPorts", "Gold"]}, "--conformance-profile: unknown profile 'Gold'"),
    ({"supported_features": ["PortDiscovery,Teleport"]}, "--supported-features: unknown feature.s. Teleport"),
    ({"exempt_features": [""]}, "--exempt-features: expected a non-empty string"),
    ({"implementation.url": "example.com"}, "--implementation-url: expected an http.s. URL"),
    ({"implementation.contact": ["@me", "nobody"]}, "--implementation-contact: expected a GitHub @handle"),
    ({"implementation.version": " "}, "--implementation-version: expected a non-empty string"),
    ({"convergence_timeout": "-1"}, "--convergence-timeout: expected a positive number"),
    ({"convergence_timeout": "soon"}, "--convergence-timeout: expected a number of seconds"),
])
def test_bad_values_are_usage_errors_naming_the_option(tmp_path: Path, flags: dict,
                                                       message: str) -> None:
    with pytest.raises(pytest.UsageError, match=message):
        build(tmp_path, **flags)


def test_file_errors_name_the_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(pytest.UsageError, match=r"opts.yaml: convergence-timeout: expected a positive"):
        build(tmp_path, file={"convergence_timeout": 0})


def test_a_switch_is_a_flag_without_value_and_a_boolean_in_the_file(tmp_path: Path,
                                                                      pytester: pytest.Pytester) -> None:
    assert build(tmp_path, cluster="kind", topology="virtual-pods", keep_kind_cluster=True).keep_kind_cluster
    with pytest.raises(pytest.UsageError, match=r"opts.yaml: keep-kind-cluster: expected true or false, got 'yes'"):
        build(tmp_path, file={"cluster": "kind", "keep_kind_cluster": "yes"})
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--keep-kind-cluster *with --cluster kind: keep the cluster*"])


def test_the_command_line_reports_usage_errors(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--cluster", "existing")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cluster existing needs --cluster-kubeconfig*"])


def test_the_options_group_is_in_the_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["eppconf conformance*", "*--epp-command=TEMPLATE*",
                                 "*--conformance-config=FILE*"])


def test_repeated_and_comma_separated_values_add_up(tmp_path: Path) -> None:
    options = build(tmp_path, profiles=["TargetPorts,ActivePorts"], exempt_features=["LlmdActivePorts"],
                    supported_features=["EndpointPerTargetPort, PodLifecycle", "ActivePorts,LlmdActivePorts"],
                    **{"implementation.contact": ["@alice,bob@example.com", "https://example.com/team",
                                  "github.com/acme/epp/issues"]})
    assert options.profiles == ("TargetPorts", "ActivePorts")
    assert options.implementation.contact == ("@alice", "bob@example.com", "https://example.com/team",
                                              "github.com/acme/epp/issues")
    assert options.supports({"ActivePorts"}) and not options.supports({"LlmdActivePorts"})
    assert not options.supports({"PortDiscovery"})


def test_implementation_and_observer_come_from_the_options_file(tmp_path: Path) -> None:
    path = tmp_path / "opts.yaml"
    path.write_text("implementation: {organization: acme, project: acme-epp, url: 'https://acme.example',"
                    " version: 2.1.0, contact: ['@acme']}\nobserver: {settle: 2, probe-timeout: 3.5,"
                    " scrapes-after-override: 3}\n")
    options = build(tmp_path, file=load_options_file(path))
    assert options.implementation == ImplementationInfo("acme", "acme-epp", "https://acme.example", "2.1.0", ("@acme",))
    assert options.observer == ObserverSettings(settle=2.0, probe_timeout=3.5, scrapes_after_override=3)


@pytest.mark.parametrize(("content", "message"), [
    ("observer: {patience: 3}\n", "observer: unknown option.s. patience; known: model, probe-timeout"),
    ("implementation: {name: x}\n", "implementation: unknown option.s. name; known: organization, project"),
    ("implementation: x\n", "implementation: expected a mapping"),
])
def test_a_bad_nested_key_names_its_group(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "opts.yaml"
    path.write_text(content)
    with pytest.raises(pytest.UsageError, match=message):
        load_options_file(path)


@pytest.mark.parametrize(("value", "message"), [
    ({"settle": 0}, "observer.settle: expected a positive number of seconds"),
    ({"scrapes_after_override": 1.5}, "observer.scrapes-after-override: expected a positive whole number"),
    ({"model": ""}, "observer.model: expected a non-empty string"),
])
def test_bad_observer_values_are_usage_errors(tmp_path: Path, value: dict, message: str) -> None:
    with pytest.raises(pytest.UsageError, match=message):
        build(tmp_path, file={f"observer.{key}": item for key, item in value.items()})


def test_every_option_has_one_flag_and_its_help_shows_the_field_default() -> None:
    options = [f.name for f in fields(ConformanceOptions) if f.name not in ("implementation", "observer")]
    options += [f"implementation.{f.name}" for f in fields(ImplementationInfo)]
    assert list(FLAGS) == options
    assert flag_help("convergence_timeout").endswith(f"(default: {ConformanceOptions.convergence_timeout:g})")
    assert flag_help("epp").endswith("(default: reference)")


#: Flags of well-known pytest plugins (read from the pytest_addoption of pytest-profiling 1.8,
#: pytest-kind 22.11 and pytest-kind-ng 26.7, pytest-kubernetes 0.9, pytest-helm-charts 1.3,
#: kubetest 0.9, pytest-timeout, xdist, cov, benchmark, html, json-report, metadata, base-url,
#: rerunfailures, randomly, asyncio, env, repeat, order, split, docker, memray).
OTHER_PLUGINS_FLAGS = frozenset("""
--profile --profile-svg --pstats-dir --strip-dirs --element-number --kubeconfig --cluster-name
--keep-cluster --kind-bin --kind-image --kind-kubectl-bin --k8s-cluster-name --k8s-kubeconfig
--k8s-kubeconfig-override --k8s-provider --k8s-provider-config --k8s-version --cluster-type
--kube-config --kube-context --kube-disable --kube-error-log-lines --kube-log-level --in-cluster
--timeout --timeout-method --session-timeout --numprocesses --maxprocesses --dist --tx --rsyncdir
--looponfail --max-worker-restart --cov --cov-report --cov-config --no-cov --cov-fail-under
--benchmark-json --benchmark-save --benchmark-disable --html --self-contained-html --css
--json-report --json-report-file --metadata --base-url --reruns --reruns-delay --only-rerun
--randomly-seed --asyncio-mode --envfile --count --order-scope --splits --group --memray
""".split())


def test_no_flag_is_one_a_well_known_plugin_uses() -> None:
    ours = {flag.name for flag in FLAGS.values()} | {CONFIG_FLAG}
    assert sorted(ours & OTHER_PLUGINS_FLAGS) == []


def test_a_plugin_with_the_old_flag_names_does_not_break_the_run(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
def pytest_addoption(parser):
    parser.addoption("--profile", action="store_true")  # pytest-profiling
    parser.addoption("--kubeconfig")  # pytest-kind, pytest-kind-ng
""")
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest("--profile", "--conformance-profile", "TargetPorts")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(("flags", "topology"), [
    ({}, "virtual-pods"),
    ({"epp_image": "epp:1"}, "virtual-pods"),
    ({"cluster": "existing", "kubeconfig": "k"}, "virtual-pods"),
    ({"cluster": "existing", "kubeconfig": "k", "epp_image": "epp:1", "fakes_image": "f:1"}, "in-cluster"),
    ({"cluster": "existing", "kubeconfig": "k", "epp_image": "epp:1", "topology": "virtual-pods"}, "virtual-pods"),
    ({"cluster": "kind", "epp_image": "epp:1"}, "in-cluster"),
    ({"cluster": "kind", "topology": "virtual-pods"}, "virtual-pods"),
])
def test_the_topology_is_derived_from_cluster_and_image(tmp_path: Path, flags: dict, topology: str) -> None:
    (tmp_path / "k").write_text("")
    assert topology_of(build(tmp_path, **flags)) == topology


@pytest.mark.parametrize(("flags", "message"), [
    ({"topology": "pods"}, "--topology: expected one of virtual-pods, in-cluster, got 'pods'"),
    ({"topology": "in-cluster", "epp_image": "e:1"}, "--topology in-cluster needs real nodes: --cluster kind or"
                                                     " existing"),
    ({"cluster": "kind"}, r"--cluster kind \(in-cluster topology\) needs --epp-image: .* \(or give --topology"
                          " virtual-pods\\)"),
    ({"cluster": "existing", "kubeconfig": "k", "epp_image": "e:1"},
     r"--cluster existing \(in-cluster topology\) needs --fakes-image"),
    ({"fakes_image": "f:1"}, "--fakes-image is only read with --topology in-cluster"),
    ({"cluster": "kind", "epp_image": "e:1", "epp_args": "--kubeconfig {kubeconfig}"},
     r"\{kubeconfig\} is not filled in-cluster"),
])
def test_a_topology_that_cannot_run_is_a_usage_error(tmp_path: Path, flags: dict, message: str) -> None:
    (tmp_path / "k").write_text("")
    with pytest.raises(pytest.UsageError, match=message):
        build(tmp_path, **flags)
