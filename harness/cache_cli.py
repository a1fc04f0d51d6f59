"""``planeval cache verify | gc``: check every cached stage's digests, and free what nothing needs.

``verify`` digests every file of every stage (the runner's reuse check only digests small files) and
prints one line per stage that fails; it changes nothing unless ``--repair``, which moves those stages
aside so the next run rebuilds them. ``gc`` removes quarantined stages, temporary folders and leases of
dead owners, and the checkpoints of finished stages — never anything a live process (on this machine or
another sharing the home) is using.
"""

from __future__ import annotations

import argparse
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
