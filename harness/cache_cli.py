"""``planeval cache verify | gc``: check every cached stage's digests, and free what nothing needs.

``verify`` digests every file of every stage (the runner's reuse check only digests small files) and
prints one line per stage that fails; it changes nothing unless ``--repair``, which moves those stages
aside so the next run rebuilds them. ``gc`` removes quarantined stages, temporary folders and leases of
dead owners, and the checkpoints of finished stages — never anything a live process (on this machine or
another sharing the home) is using.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from harness.cache import Cache


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    x, units = n / 1024, ["KiB", "MiB", "GiB"]
    while x >= 1024 and len(units) > 1:
        x, units = x / 1024, units[1:]
    return f"{x:.1f} {units[0]}"


def cmd_verify(args: argparse.Namespace, home: Path) -> int:
    cache = Cache(home / "cache", log=print)
    stages = list(cache.stages())
    bad = cache.verify(full=True, repair=args.repair)
    for stage, key, problem in bad:
        print(f"{stage}/{key}: {problem}")
    what = "moved aside (the next run rebuilds them)" if args.repair else "failed (--repair moves them aside)"
    print(f"{len(stages)} stages checked in {cache.root}: {len(stages) - len(bad)} ok, {len(bad)} {what}")
    return 1 if bad else 0


def cmd_gc(args: argparse.Namespace, home: Path) -> int:
    cache = Cache(home / "cache", log=print)
    freed = cache.gc()
    for path, size in freed:
        print(f"removed {path.relative_to(cache.root)} ({_size(size)})")
    print(f"freed {_size(sum(s for _, s in freed))} in {len(freed)} entries under {cache.root}")
    return 0


def add_cache_command(
    sub: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    home: Callable[[argparse.Namespace], Path],
) -> None:
    """Register ``planeval cache verify | gc`` (``home`` resolves --home / PLANEVAL_HOME)."""
    p = sub.add_parser(
        "cache",
        help="verify the cache's digests or free what nothing needs",
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
