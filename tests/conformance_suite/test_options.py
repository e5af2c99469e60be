"""Conformance options: layering of defaults, options file and flags; every bad value a UsageError."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.options import ConformanceOptions, build_options, load_options_file

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
    assert data["implementation"] == {"name": "", "version": ""}


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
    ({"cluster": "kind"}, "--cluster kind: not implemented yet"),
    ({"cluster": "moon"}, "--cluster: expected one of local, kind, existing, got 'moon'"),
    ({"epp_image": "epp:1"}, "--epp-image: .*not implemented yet"),
    ({"cluster": "existing"}, "--cluster existing needs --kubeconfig"),
    ({"cluster": "existing", "kubeconfig": "nope"}, "--kubeconfig .*nope: no such file"),
    ({"kubeconfig": "k"}, "--kubeconfig is only read with --cluster existing"),
    ({"control_plane_bin_dir": "nope"}, "--control-plane-bin-dir .*nope: no such folder"),
    ({"epp": "nginx"}, "--epp nginx: unknown preset; known: gie-v1.5.0, reference"),
    ({"epp": "reference", "epp_command": "x"}, "both name the EPP"),
    ({"epp_command": "epp --port {port}"}, r"unknown placeholder\(s\) \{port\}"),
    ({"epp_command": "epp {pool"}, "malformed template"),
    ({"profiles": ["TargetPorts", "Gold"]}, "--profile: unknown profile 'Gold'"),
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


def test_the_command_line_reports_usage_errors(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--cluster", "kind")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cluster kind: not implemented yet*"])


def test_the_options_group_is_in_the_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["eppconf conformance*", "*--epp-command=TEMPLATE*",
                                 "*--conformance-config=FILE*"])
