"""``spectrus-operator``: run the operator (cluster-wide, or in the namespaces given)."""

from __future__ import annotations

import argparse

import kopf
import prometheus_client

import spectrus_operator.handlers  # noqa: F401 - registers the handlers
from spectrus_domain import logs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="spectrus-operator", description=__doc__)
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable; default: every namespace)",
    )
    parser.add_argument(
        "--health", default="http://0.0.0.0:8080/healthz", help="liveness endpoint URL"
    )
    parser.add_argument(
        "--metrics-port", type=int, default=8081, help="Prometheus metrics port (0: none)"
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logs.configure("debug" if args.verbose else "info")
    if args.metrics_port:
        prometheus_client.start_http_server(args.metrics_port)
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.health,
        standalone=True,
    )


if __name__ == "__main__":
    main()
