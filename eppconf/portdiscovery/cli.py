"""``eppconf validate``: check port-discovery annotations in a value, in manifests or in a cluster.

Exit status: 0 all valid, 1 something invalid (each problem printed with its pod and entry),
2 usage error (unreadable file, unreachable cluster, bad arguments).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eppconf.portdiscovery import PORT_DISCOVERY_ANNOTATION, PortDiscoveryError, Problem, parse_port_discovery


class UsageError(Exception):
    """Input the command cannot read at all (exit 2)."""


@dataclass
class Result:
    """The verdict on one annotation value; ``source`` says where it came from."""

    source: str
    pod: str | None = None
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "pod": self.pod, "valid": not self.problems,
                "problems": [p.to_dict() for p in self.problems]}


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``eppconf validate``."""
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="pod manifests, YAML or JSON, multi-document; '-' reads stdin")
    parser.add_argument("--annotation", metavar="VALUE", help="validate one annotation value")
    parser.add_argument("--namespace", metavar="NS", help="validate the pods of namespace NS in a live cluster")
    parser.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig for --namespace (default: KUBECONFIG)")
    parser.add_argument("--output", choices=("text", "json"), default="text", help="output format")


def run(args: argparse.Namespace) -> int:
    """Validate what ``args`` names; print the results; the exit status."""
    modes = [args.annotation is not None, bool(args.files), args.namespace is not None]
    try:
        if sum(modes) != 1:
            raise UsageError("give exactly one of --annotation VALUE, FILE... or --namespace NS")
        if args.kubeconfig and args.namespace is None:
            raise UsageError("--kubeconfig only applies with --namespace")
        if args.annotation is not None:
            results = [check_value(args.annotation, source="--annotation")]
        elif args.files:
            results = [r for path in args.files for r in check_file(path)]
        else:
            results = check_cluster(args.namespace, kubeconfig=args.kubeconfig)
    except UsageError as error:
        print(f"eppconf validate: error: {error}", file=sys.stderr)
        return 2
    report(results, output=args.output)
    return 1 if any(r.problems for r in results) else 0


def check_value(value: Any, *, source: str, pod: str | None = None) -> Result:
    """The verdict on one annotation value."""
    try:
        parse_port_discovery(value)
    except PortDiscoveryError as error:
        return Result(source, pod, list(error.problems))
    return Result(source, pod)


def check_objects(objects: Iterator[tuple[str, Any]]) -> Iterator[Result]:
    """Verdicts on the annotated pods (and pod templates) among ``(source, object)`` pairs."""
    for source, obj in objects:
        if not isinstance(obj, Mapping):
            yield Result(source, None, [Problem(None, None, "is not a Kubernetes object")])
        elif str(obj.get("kind", "")).endswith("List"):  # List, PodList, ...
            items = obj.get("items") or []
            yield from check_objects((f"{source}, item {i}", item) for i, item in enumerate(items))
        else:
            yield from _check_object(source, obj)


def check_file(path: str) -> list[Result]:
    """Verdicts on every annotated pod of a YAML or JSON file ('-' is stdin)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
    name = "<stdin>" if path == "-" else path
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        return [Result(name, None, [Problem(None, None, f"is not valid YAML or JSON: {error}")])]
    pairs = ((f"{name}: document {i + 1}", doc) for i, doc in enumerate(documents) if doc is not None)
    return list(check_objects(pairs))


def check_cluster(namespace: str, *, kubeconfig: str | None) -> list[Result]:
    """Verdicts on the pods of ``namespace`` read from a live cluster."""
    from kubernetes import client, config  # imported here: only this mode needs it
    from kubernetes.config.config_exception import ConfigException

    try:
        api_client = config.new_client_from_config(config_file=kubeconfig)
    except (ConfigException, OSError, TypeError, ValueError) as error:
        raise UsageError(f"cannot load kubeconfig {kubeconfig or '(KUBECONFIG)'}: {error}") from None
    with api_client:
        try:
            pods = client.CoreV1Api(api_client).list_namespaced_pod(
                namespace, _preload_content=False, _request_timeout=10)
            try:
                body = json.loads(pods.data)
            finally:
                pods.release_conn()  # a response read this way keeps its connection until released
        except Exception as error:  # urllib3, API and decode errors all mean: cannot reach the cluster
            raise UsageError(f"cannot list pods in namespace {namespace!r}: {_short(error)}") from None
    items = body.get("items") or []
    return list(check_objects((f"namespace {namespace}", pod | {"kind": "Pod"}) for pod in items))


def report(results: list[Result], *, output: str) -> None:
    """Print ``results`` as text lines or one JSON document."""
    invalid = [r for r in results if r.problems]
    if output == "json":
        print(json.dumps({"valid": not invalid, "checked": len(results), "invalid": len(invalid),
                          "results": [r.to_dict() for r in results]}, indent=2))
        return
    for result in invalid:
        where = result.source + (f": pod {result.pod}" if result.pod else "")
        for problem in result.problems:
            print(f"{where}: {problem}")
    print(f"{len(results)} annotation value(s) checked, {len(invalid)} invalid")


def _check_object(source: str, obj: Mapping[str, Any]) -> Iterator[Result]:
    """A Pod's own annotation, or the pod template's of a workload (spec.template)."""
    meta: Mapping[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), Mapping) else {}
    name = f"{meta.get('namespace') or 'default'}/{meta.get('name', '?')}"
    if obj.get("kind") == "Pod":
        yield from _check_metadata(source, name, meta)
        return
    spec: Mapping[str, Any] = obj["spec"] if isinstance(obj.get("spec"), Mapping) else {}
    template: Mapping[str, Any] = spec["template"] if isinstance(spec.get("template"), Mapping) else {}
    template_meta = template.get("metadata")
    if isinstance(template_meta, Mapping):
        yield from _check_metadata(f"{source}: {obj.get('kind')} {name} pod template", None, template_meta)


def _check_metadata(source: str, pod: str | None, meta: Mapping[str, Any]) -> Iterator[Result]:
    annotations = meta.get("annotations")
    if isinstance(annotations, Mapping) and PORT_DISCOVERY_ANNOTATION in annotations:
        yield check_value(annotations[PORT_DISCOVERY_ANNOTATION], source=source, pod=pod)


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
