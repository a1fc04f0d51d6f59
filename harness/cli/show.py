"""``planeval show RUN``: one run's metadata, metrics and per-sample rows, read from the database."""

from __future__ import annotations

import argparse
import json

from harness.cli.common import open_store


def cmd_show(args: argparse.Namespace) -> int:
    store = open_store(args)
    run = store.get_run(args.run_id)
    if args.json:
        from leaderboard.commands import show_json

        print(show_json(run, store.load_samples(run), args.samples), end="")
        return 0
    metrics = run.pop("metrics", [])
    print(json.dumps(run, indent=2, default=str))
    print("\nmetrics:")
    for m in metrics:
        ci = f" [{m['ci_low']:.4g}, {m['ci_high']:.4g}]" if m.get("ci_low") is not None else ""
        print(f"  {m['name']:<20} {m['value']:.6g}{ci}  n={m['n']}")
    samples = store.load_samples(run)
    if samples is None:
        print("\n(no per-sample table: recorded before tables were stored, and its cache file is gone)")
    else:
        head = samples.head(args.samples).copy()
        for col in head.columns:
            head[col] = head[col].map(
                lambda v: v if not isinstance(v, str) or len(v) <= 60 else v[:57] + "..."
            )
        print(f"\nper-sample details ({len(samples)} rows; first {len(head)}):")
        print(head.to_string(index=False))
    return 0


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    p = sub.add_parser(
        "show",
        parents=[common],
        help=help,
        description="Show a leaderboard run by id (a unique prefix is enough).",
    )
    p.add_argument("run_id")
    p.add_argument("--samples", type=int, default=10, help="how many sample rows to print")
    p.add_argument(
        "--json",
        action="store_true",
        help="print only JSON: metadata, metrics at full precision, --samples rows (-1: all)",
    )
    p.set_defaults(func=cmd_show)
