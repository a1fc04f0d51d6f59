"""``planeval list tasks|variants|suites|trainers``: what is registered (built-ins, entry points,
--include)."""

from __future__ import annotations

import argparse

from harness.cli.common import includes


def cmd_list(args: argparse.Namespace) -> int:
    from harness.catalog import SUITES, VARIANTS
    from tasks.base import TASKS
    from trainers.base import TRAINERS

    includes(args)
    if args.what == "tasks":
        for name, cls in TASKS.items():
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            metrics = ", ".join(
                f"{m}{'↑' if info.higher_is_better else '↓'}" for m, info in cls.metrics.items()
            )
            print(f"{name:<16} {doc}  [{metrics}]")
    elif args.what == "variants":
        for name, spec in VARIANTS.items():
            print(f"{name:<28} {spec.family:<16} trainer={spec.trainer:<14} {spec.description}")
    elif args.what == "suites":
        for name, spec in SUITES.items():
            tasks = ", ".join(t.label for t in spec.tasks)
            print(f"{name:<16} {len(spec.variants)} variants × [{tasks}]  {spec.description}")
    elif args.what == "trainers":
        for name, cls in TRAINERS.items():
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            print(f"{name:<16} {doc}")
    return 0


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    p = sub.add_parser(
        "list",
        parents=[common],
        help=help,
        description="List what is registered (built-ins, entry points and --include).",
    )
    p.add_argument("what", choices=["tasks", "variants", "suites", "trainers"])
    p.set_defaults(func=cmd_list)
