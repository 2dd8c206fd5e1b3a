"""`scoutly` command line. Subcommands import their modules lazily so `--help` stays fast."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from scoutly import __version__

DEFAULT_DEV_DIR = Path.home() / ".cache" / "scoutly" / "dev"


def _dev(args: argparse.Namespace) -> int:
    from scoutly import devenv

    if args.dev_cmd == "up":
        return devenv.up(Path(args.dir), nodes=args.nodes, real_node=args.real_node)
    if args.dev_cmd == "down":
        return devenv.down(Path(args.dir))
    return devenv.demo(Path(args.dir), keep=args.keep, timeout=args.timeout)


def _operator(args: argparse.Namespace) -> int:
    import asyncio

    from pydantic import ValidationError

    from scoutly.config import OperatorSettings
    from scoutly.controller.operator import run
    from scoutly.logs import setup_logging

    try:
        settings = OperatorSettings()
    except ValidationError as e:
        print(f"error: invalid settings: {e}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings))
    return 0


def _scrape(args: argparse.Namespace) -> int:
    from scoutly.scrape.run import main as scrape_main

    return scrape_main(args.target)


def _sync(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from pydantic import ValidationError

    from scoutly.config import OperatorSettings
    from scoutly.sync.run import main as sync_main

    try:
        settings = OperatorSettings()
    except ValidationError as e:
        print(f"error: invalid settings: {e}", file=sys.stderr)
        return 2
    if settings.mongodb_uri is None:
        print("error: SCOUTLY_MONGODB_URI is not set", file=sys.stderr)
        return 2
    try:
        return asyncio.run(
            sync_main(
                mongodb_uri=settings.mongodb_uri.get_secret_value(),
                mongodb_database=settings.mongodb_database,
                kubeconfig=settings.kubeconfig or os.environ.get("KUBECONFIG") or None,
                namespace=args.namespace or settings.sync_namespace,
                dry_run=args.dry_run,
                fmt=args.output,
                out=sys.stdout,
            )
        )
    except Exception as e:  # fatal: MongoDB or the API server unreachable, bad kubeconfig
        print(f"error: sync failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


def _queue(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from scoutly.queue.status import EXIT_ERROR, Thresholds, run
    from scoutly.scheduling.policy import parse_duration

    uri = args.mongodb_uri or os.environ.get("SCOUTLY_MONGODB_URI")
    if not uri:
        print("error: no MongoDB URI (--mongodb-uri or SCOUTLY_MONGODB_URI)", file=sys.stderr)
        return EXIT_ERROR
    try:
        window, max_age = parse_duration(args.window), parse_duration(args.max_pending_age)
        max_processing = parse_duration(args.max_processing_age)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    thresholds = Thresholds(
        max_pending_age=max_age,
        max_processing_age=max_processing if max_processing.total_seconds() > 0 else None,
        max_failures=args.max_failures,
        max_consecutive_failures=args.max_consecutive_failures,
    )
    return asyncio.run(
        run(
            uri=uri,
            database=args.database or os.environ.get("SCOUTLY_MONGODB_DATABASE") or "scoutly",
            window=window,
            thresholds=thresholds,
            output=args.output,
            out=sys.stdout,
            err=sys.stderr,
            failures_limit=args.failures,
        )
    )


def _crd(args: argparse.Namespace) -> int:
    from scoutly.api.crd import render_chart_template, render_yaml

    sys.stdout.write(render_chart_template() if args.chart else render_yaml())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scoutly", description="Scoutly scrape operator and tools.")
    p.add_argument("--version", action="version", version=f"scoutly {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    dev = sub.add_parser("dev", help="local control plane + FerretDB for development (no cluster needed)")
    dev_sub = dev.add_subparsers(dest="dev_cmd", required=True, metavar="ACTION")
    for name, text in (
        ("up", "start the environment in the background and print how to use it"),
        ("down", "stop the environment started by 'dev up'"),
        ("demo", "start the environment, the operator and the sample targets, and show progress"),
    ):
        sp = dev_sub.add_parser(name, help=text)
        sp.add_argument("--dir", default=str(DEFAULT_DEV_DIR), help="state directory (default: %(default)s)")
        if name == "up":
            sp.add_argument(
                "--nodes", type=int, default=2, help="number of kwok fake nodes (default: %(default)s)"
            )
            sp.add_argument(
                "--real-node",
                action="store_true",
                help="also start a real node (containerd + kubelet; Linux, root; docs/development.md) "
                "and import the image built by 'make image'",
            )
        if name == "demo":
            sp.add_argument("--keep", action="store_true", help="leave the environment running afterwards")
            sp.add_argument("--timeout", type=float, default=180, help="seconds to wait for the samples")
    dev.set_defaults(func=_dev)

    op = sub.add_parser("operator", help="the ScrapeTarget controller")
    op_sub = op.add_subparsers(dest="op_cmd", required=True, metavar="ACTION")
    op_sub.add_parser(
        "run",
        help="run the controller against the current kubeconfig or in-cluster config; "
        "settings come from SCOUTLY_* env vars (docs/configuration.md)",
    )
    op.set_defaults(func=_operator)

    scrape = sub.add_parser(
        "scrape",
        help="run one scrape of a ScrapeTarget (the Job's workload); other inputs come from "
        "SCOUTLY_* / OPENAI_* env vars (docs/scrape.md)",
    )
    scrape.add_argument("--target", help="<namespace>/<name> of the ScrapeTarget (default: $SCOUTLY_TARGET)")
    scrape.set_defaults(func=_scrape)

    sync = sub.add_parser(
        "sync",
        help="reconcile the app's tracked companies (MongoDB, SCOUTLY_MONGODB_URI) into ScrapeTargets "
        "(docs/sync.md)",
    )
    sync.add_argument(
        "--namespace",
        default=None,
        help="namespace of the targets (default: $SCOUTLY_SYNC_NAMESPACE or scoutly)",
    )
    sync.add_argument(
        "--dry-run", action="store_true", help="print the plan and a diff per target; write nothing"
    )
    sync.add_argument("--output", "-o", choices=("table", "json"), default="table", help="report format")
    sync.set_defaults(func=_sync)

    queue = sub.add_parser("queue", help="the jobqueues audit trail in MongoDB (docs/runbooks.md)")
    queue_sub = queue.add_subparsers(dest="queue_cmd", required=True, metavar="ACTION")
    qs = queue_sub.add_parser(
        "status",
        help="counts by status (the app's documents and the operator's side by side), oldest pending, "
        "stuck processing, recent failures, last outcome per target; "
        "exit 1 when unhealthy (thresholds below), 2 when MongoDB is unreachable",
    )
    qs.add_argument("--mongodb-uri", default=None, help="MongoDB URI (default: $SCOUTLY_MONGODB_URI)")
    qs.add_argument(
        "--database",
        default=None,
        help="database when the URI names none (default: $SCOUTLY_MONGODB_DATABASE or scoutly)",
    )
    qs.add_argument("--output", "-o", choices=("table", "json"), default="table", help="report format")
    qs.add_argument(
        "--window", default="24h", help="look-back for failures and outcomes (default: %(default)s)"
    )
    qs.add_argument("--failures", type=int, default=10, help="recent failures listed (default: %(default)s)")
    qs.add_argument(
        "--max-pending-age",
        default="1h",
        help="unhealthy when a document is `pending` longer (default: %(default)s)",
    )
    qs.add_argument(
        "--max-processing-age",
        default="2h",
        help="unhealthy when a document is `processing` longer, since its worker or Job claimed it; "
        "0s: off (default: %(default)s)",
    )
    qs.add_argument(
        "--max-failures",
        type=int,
        default=None,
        help="unhealthy when more documents failed within the window",
    )
    qs.add_argument(
        "--max-consecutive-failures",
        type=int,
        default=3,
        help="unhealthy when a target failed this many times in a row; 0: off (default: %(default)s)",
    )
    queue.set_defaults(func=_queue)

    crd = sub.add_parser("crd", help="print the ScrapeTarget CustomResourceDefinition (YAML)")
    crd.add_argument("--chart", action="store_true", help="print it as the Helm chart's template")
    crd.set_defaults(func=_crd)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
