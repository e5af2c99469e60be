"""``eppconf reference-epp``: flags (named like GIE's EPP where they overlap) and logging."""

from __future__ import annotations

import argparse
import logging
import os

from eppconf.refepp.durations import DurationError, parse_duration
from eppconf.refepp.faults import FAULTS

_TRUE = {"true", "t", "1", "yes"}
_FALSE = {"false", "f", "0", "no"}


def parse_bool(text: str) -> bool:
    """A Go-style boolean flag value (``true``/``false``, ``1``/``0``)."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}: use true or false")


def port_number(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: not an integer") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: must be between 0 and 65535")
    return port


def interval(text: str) -> float:
    """A positive Go-style duration, in seconds."""
    try:
        seconds = parse_duration(text)
    except DurationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"invalid interval {text!r}: must be greater than zero")
    return seconds


def non_empty(text: str) -> str:
    """A non-blank string."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the reference EPP's flags."""
    parser.add_argument("--pool-name", required=True, type=non_empty, help="name of the InferencePool to serve")
    parser.add_argument("--pool-namespace", default="default", type=non_empty,
                        help="namespace of the InferencePool (default: default)")
    parser.add_argument("--pool-group", default="inference.networking.k8s.io", type=non_empty,
                        help="API group of the InferencePool (default: inference.networking.k8s.io)")
    parser.add_argument("--grpc-port", type=port_number, default=9002, help="ext_proc gRPC port (default: 9002)")
    parser.add_argument("--grpc-health-port", type=port_number, default=9003,
                        help="gRPC health port (default: 9003)")
    parser.add_argument("--metrics-port", type=port_number, default=9090,
                        help="Prometheus /metrics and /debug/endpoints port (default: 9090)")
    parser.add_argument("--bind-address", default="127.0.0.1", type=non_empty,
                        help="address every port listens on (default: 127.0.0.1)")
    parser.add_argument("--secure-serving", type=parse_bool, nargs="?", const=True, default=True,
                        metavar="BOOL", help="serve ext_proc over TLS with a self-signed certificate (default: true)")
    parser.add_argument("--refresh-metrics-interval", type=interval, default=0.05, metavar="DURATION",
                        help="how often each endpoint's /metrics is scraped, e.g. 50ms or 1s (default: 50ms)")
    parser.add_argument("--kubeconfig", default=None,
                        help="kubeconfig file (default: $KUBECONFIG, else the in-cluster service account)")
    parser.add_argument("--fault", action="append", default=[], choices=sorted(FAULTS), metavar="NAME",
                        help=f"start a deliberately broken variant, for tests only ({', '.join(sorted(FAULTS))})")
    parser.add_argument("-v", "--v", dest="verbosity", type=int, nargs="?", const=1, default=0, metavar="LEVEL",
                        help="log verbosity: 0 info, 1 or more debug")


def run(args: argparse.Namespace) -> int:
    """Run the reference EPP until SIGTERM or SIGINT."""
    from eppconf.refepp.app import Options, serve

    logging.basicConfig(level=logging.DEBUG if args.verbosity > 0 else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = Options(
        pool_name=args.pool_name, pool_namespace=args.pool_namespace, pool_group=args.pool_group,
        grpc_port=args.grpc_port, grpc_health_port=args.grpc_health_port, metrics_port=args.metrics_port,
        bind_address=args.bind_address, secure_serving=args.secure_serving,
        refresh_metrics_interval=args.refresh_metrics_interval,
        kubeconfig=args.kubeconfig or os.environ.get("KUBECONFIG") or None, faults=tuple(args.fault))
    return serve(options)
