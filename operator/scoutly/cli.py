"""`scoutly` command line. Subcommands import their modules lazily so `--help` stays fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from scoutly import __version__

DEFAULT_DEV_DIR = Path.home() / ".cache" / "scoutly" / "dev"


def _dev(args: argparse.Namespace) -> int:
    from scoutly.testing import devenv

    if args.dev_cmd == "up":
        return devenv.up(Path(args.dir), nodes=args.nodes)
    if args.dev_cmd == "down":
        return devenv.down(Path(args.dir))
    return devenv.demo(Path(args.dir), keep=args.keep, timeout=args.timeout)


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
        if name == "demo":
            sp.add_argument("--keep", action="store_true", help="leave the environment running afterwards")
            sp.add_argument("--timeout", type=float, default=180, help="seconds to wait for the samples")
    dev.set_defaults(func=_dev)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
