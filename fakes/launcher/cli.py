"""``eppconf fake-launcher``: the fake FMA launcher, until SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from fakes.launcher.annotator import AnnotatorError, PodAnnotator
from fakes.launcher.app import FakeLauncher
from fakes.modelserver.runtime import FakeRuntime


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address of the launcher API (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port of the launcher API (default 8001)")
    parser.add_argument("--child-host", help="address the children bind (default: --host)")
    parser.add_argument("--inference-pool", help="pool of children whose request names none")
    parser.add_argument("--pod-name", default=os.environ.get("POD_NAME"),
                        help="pod whose port-discovery annotation to keep (default $POD_NAME; none: no annotation)")
    parser.add_argument("--pod-namespace", default=os.environ.get("POD_NAMESPACE", "default"),
                        help="namespace of that pod (default $POD_NAMESPACE or default)")
    parser.add_argument("--kubeconfig", type=Path,
                        help="kubeconfig to patch the pod with (default: in-cluster, then $KUBECONFIG)")


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        return _usage_error(f"--port {args.port} is outside 0-65535")
    try:
        annotator = (PodAnnotator.connect(pod_name=args.pod_name, namespace=args.pod_namespace,
                                          kubeconfig=args.kubeconfig) if args.pod_name else None)
    except AnnotatorError as error:
        return _usage_error(str(error))
    try:
        return _serve(args, annotator)
    finally:
        if annotator is not None:
            annotator.close()


def _serve(args: argparse.Namespace, annotator: PodAnnotator | None) -> int:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with FakeRuntime() as runtime:
        launcher = FakeLauncher(runtime, host=args.host, port=args.port, child_host=args.child_host,
                                default_pool=args.inference_pool, annotator=annotator)
        try:
            launcher.start()
        except OSError as error:
            return _usage_error(f"cannot serve on {args.host}:{args.port}: {error.strerror or error}")
        except AnnotatorError as error:
            return _usage_error(str(error))
        try:
            print(json.dumps({"launcher": launcher.base_url}), flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            launcher.stop()
    return 0


def _usage_error(message: str) -> int:
    print(f"eppconf fake-launcher: error: {message}", file=sys.stderr)
    return 2
