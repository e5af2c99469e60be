"""``eppconf validate`` on values, manifests, stdin and a live API server over loopback (PD-8)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from eppconf.cli import main
from eppconf.portdiscovery import PORT_DISCOVERY_ANNOTATION

VECTORS = Path(__file__).resolve().parents[2] / "schemas" / "vectors"
VALID = json.loads((VECTORS / "port-discovery-valid.json").read_text())["vectors"]
INVALID = json.loads((VECTORS / "port-discovery-invalid.json").read_text())["vectors"]


def pod(name: str, value: str | None, *, namespace: str = "ns") -> dict[str, Any]:
    annotations = {} if value is None else {PORT_DISCOVERY_ANNOTATION: value}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations}}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_valid_vectors_exit_0(vector: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--annotation", vector["value"])[0] == 0


@pytest.mark.parametrize("vector", INVALID, ids=[v["name"] for v in INVALID])
def test_invalid_vectors_exit_1_with_locations(vector: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--annotation", vector["value"], "--output", "json")
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    got = [{"entry": p["entry"], "field": p["field"]} for p in report["results"][0]["problems"]]
    assert got == vector["problems"]


def test_multi_document_yaml_names_pod_and_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "pods.yaml"
    manifest.write_text(yaml.safe_dump_all([
        pod("good", '[{"inferencePool":"p","number":8000}]'),
        pod("plain", None),
        pod("bad", '[{"inferencePool":"p","number":8000},{"inferencePool":"p","number":0}]'),
    ]))
    code, out, _ = run(capsys, str(manifest))
    assert code == 1
    assert f"{manifest}: document 3: pod ns/bad: entry 1, field number: must be a port" in out
    assert "good" not in out and "plain" not in out
    assert out.strip().endswith("2 annotation value(s) checked, 1 invalid")


def test_json_list_and_workload_templates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deployment = {"kind": "Deployment", "metadata": {"name": "launcher"},
                  "spec": {"template": {"metadata": {"annotations": {PORT_DISCOVERY_ANNOTATION: "[1]"}}}}}
    manifest = tmp_path / "list.json"
    manifest.write_text(json.dumps({"kind": "List", "items": [pod("a", "[]"), deployment]}))
    code, out, _ = run(capsys, str(manifest), "--output", "json")
    report = json.loads(out)
    assert code == 1 and report["checked"] == 2 and report["invalid"] == 1
    assert report["results"][1]["source"].endswith("item 1: Deployment default/launcher pod template")


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump(pod("a", '[{"inferencePool":"p","number":1}]'))))
    assert run(capsys, "-")[0] == 0


def test_all_valid_files_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "pod.json"
    manifest.write_text(json.dumps(pod("a", '[{"inferencePool":"p","number":1}]')))
    assert run(capsys, str(manifest)) == (0, "1 annotation value(s) checked, 0 invalid\n", "")


def test_malformed_yaml_is_invalid_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "broken.yaml"
    manifest.write_text("kind: Pod\nmetadata: [unclosed\n")
    code, out, _ = run(capsys, str(manifest))
    assert code == 1 and "is not valid YAML or JSON" in out


@pytest.mark.parametrize("argv", [[], ["--annotation", "[]", "x.yaml"], ["--kubeconfig", "k", "x.yaml"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and "eppconf validate: error:" in err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path / "absent.yaml"))
    assert code == 2 and "cannot read" in err


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))
    return path


@pytest.fixture
def api_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server answering the pod list of namespace ``ns``; yields (url, request paths)."""
    paths: list[str] = []
    pods = {"kind": "PodList", "apiVersion": "v1", "items": [
        pod("good", '[{"inferencePool":"p","number":8000}]'),
        pod("bad", '[{"inferencePool":"p","number":8000,"role":"decode"}]'),
    ]}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            paths.append(self.path)
            body = json.dumps(pods).encode()
            self.send_response(200 if self.path.startswith("/api/v1/namespaces/ns/pods") else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_live_namespace(api_server: tuple[str, list[str]], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    url, paths = api_server
    config = kubeconfig(tmp_path / "kubeconfig", url)
    code, out, _ = run(capsys, "--namespace", "ns", "--kubeconfig", str(config))
    assert code == 1
    assert "namespace ns: pod ns/bad: entry 0, field role: is not a known field" in out
    assert paths and paths[0].startswith("/api/v1/namespaces/ns/pods")


def test_unreachable_cluster_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:1")
    code, _, err = run(capsys, "--namespace", "ns", "--kubeconfig", str(config))
    assert code == 2 and "cannot list pods in namespace 'ns'" in err


def test_unloadable_kubeconfig_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--namespace", "ns", "--kubeconfig", str(tmp_path / "none"))
    assert code == 2 and "cannot load kubeconfig" in err
