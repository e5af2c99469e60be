"""An EPP process that serves for a while, then exits on its own: the in-test EPP with gRPC health.

Usage: exiting_epp.py --grpc-port G --grpc-health-port H --serve-seconds S --exit-code C
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from harness_epp import RoutingEpp

from conformance.implementations import EXT_PROC_HEALTH_SERVICE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--grpc-port", "--grpc-health-port", "--exit-code"):
        parser.add_argument(flag, type=int, required=True)
    parser.add_argument("--serve-seconds", type=float, required=True)
    args = parser.parse_args()
    epp = RoutingEpp()
    epp.start(args.grpc_port)
    health_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set(EXT_PROC_HEALTH_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, health_server)
    health_server.add_insecure_port(f"127.0.0.1:{args.grpc_health_port}")
    health_server.start()
    time.sleep(args.serve_seconds)
    print(f"exiting with code {args.exit_code} on purpose", flush=True)
    os._exit(args.exit_code)  # at once, as a crashing EPP does: no graceful server shutdown


if __name__ == "__main__":
    main()
