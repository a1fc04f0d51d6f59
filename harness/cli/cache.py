"""``planeval cache verify | gc`` (the commands are in ``harness.cache_cli``; this module is their
options)."""

from __future__ import annotations

import argparse

from harness.cli.common import home


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    from harness.cache_cli import cmd_gc, cmd_verify

    p = sub.add_parser(
        "cache",
        help=help,
        description="verify: full sha256 check of every cached stage (exit 1 if any fails). "
        "gc: remove quarantined stages, dead owners' temporary folders and leases, finished stages' "
        "checkpoints.",
    )
    actions = p.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    v = actions.add_parser("verify", parents=[common], help="full digest check of every stage")
    v.add_argument("--repair", action="store_true", help="move failing stages aside so they are rebuilt")
    v.set_defaults(func=lambda args: cmd_verify(args, home(args)))
    g = actions.add_parser("gc", parents=[common], help="remove what no stage or live process needs")
    g.set_defaults(func=lambda args: cmd_gc(args, home(args)))
