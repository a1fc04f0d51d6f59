"""Option types and option groups that several subcommands share (the leaderboard selection, the
trade-off sweep), so that ``leaderboard`` and ``plot`` spell them identically."""

from __future__ import annotations

import argparse


def names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def ints(text: str) -> list[int]:
    try:
        return [int(t) for t in names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def parse_map(text: str) -> dict[str, float]:
    """``name=value,name=value`` → {name: value} (``--sweep-map``)."""
    out: dict[str, float] = {}
    for item in names(text):
        name, sep, value = item.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected name=number pairs, got {item!r}") from None
    return out


def add_selection_args(p: argparse.ArgumentParser, metrics_help: str | None = None) -> None:
    p.add_argument("--suite", help="only this suite")
    p.add_argument("--variants", type=names, help="comma-separated variant names (default: all)")
    p.add_argument("--tasks", type=names, help="comma-separated task labels (default: all)")
    p.add_argument("--seeds", type=ints, help="comma-separated seeds (default: all)")
    p.add_argument(
        "--metrics",
        help=metrics_help
        or "comma-separated glob patterns on metric or task/metric names, or 'all' "
        "(default: all but breakdowns such as rouge1@64)",
    )
    add_limited_arg(p)


def add_limited_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--include-limited",
        action="store_true",
        help="also the quick runs of 'planeval run --limit N' (marked '<variant> [limit N]'; left out by "
        "default)",
    )


def add_sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sweep-param",
        metavar="PARAM",
        help="trainer parameter of the variants that holds the sweep's x (default: predicted_fraction, "
        "the fraction q of planner-predicted actions); never read from a variant's name",
    )
    p.add_argument(
        "--sweep-map",
        type=parse_map,
        default={},
        metavar="V=Q,...",
        help="explicit q per variant for the sweep",
    )
