"""Threads per process from the cores that are actually free, and OpenMP threads that sleep when idle.

torch sizes its thread pool to every core it may run on. On a machine where other jobs use some of
those cores (CI runners, laptops, shared servers) that oversubscribes: the pool's threads wait for each
other at every parallel region, and OpenMP's default wait *spins*, so a descheduled thread holds up
the others while they burn the core it needs — a 2-core machine with one core busy trained 8× slower
with two threads than with one. So:

* ``passive_waits()`` (called before torch is imported: OpenMP reads it once) makes waiting threads
  sleep: ``OMP_WAIT_POLICY=PASSIVE`` (and ``KMP_BLOCKTIME=0`` for Intel's runtime), unless set;
* ``free_cores()`` counts the cores this process may use (``sched_getaffinity``) minus those busy
  right now (``/proc/stat`` sampled over a short interval; the 1-minute load average elsewhere);
* ``adapt(share)`` sets torch's intra-op threads to the free cores divided among ``share`` stages
  running in parallel, at the start of each stage, so a job that starts or ends in between is seen.

An explicit ``OMP_NUM_THREADS`` (or ``PLANEVAL_THREADS=N``) is the user's choice and always wins;
``PLANEVAL_THREADS=torch`` turns all of this off (torch's own defaults: every core, spinning waits).
"""

from __future__ import annotations

import os
import time

SAMPLE_S = 0.05  # how long /proc/stat is watched: long enough to see a busy core, short enough per stage


def enabled() -> bool:
    return os.environ.get("PLANEVAL_THREADS", "").strip().lower() != "torch"


def passive_waits() -> None:
    """Idle OpenMP threads sleep instead of spinning (before torch loads its OpenMP runtime)."""
    if not enabled():
        return
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("KMP_BLOCKTIME", "0")


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_times(cores: set[int] | None) -> tuple[float, float] | None:
    """(busy, total) jiffies summed over ``cores`` (all when None), or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            lines = [line.split() for line in f if line.startswith("cpu") and line[3:4].isdigit()]
    except OSError:
        return None
    busy = total = 0.0
    for parts in lines:
        if cores is not None and int(parts[0][3:]) not in cores:
            continue
        fields = [float(x) for x in parts[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
        busy, total = busy + sum(fields) - idle, total + sum(fields)
    return (busy, total) if total else None


def busy_cores(sample_s: float = SAMPLE_S) -> float:
    """How many of this process's cores other work keeps busy now (this process idles meanwhile)."""
    try:
        cores: set[int] | None = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = None
    first = _cpu_times(cores)
    if first is not None:
        time.sleep(sample_s)
        second = _cpu_times(cores)
        if second is not None and second[1] > first[1]:
            n = len(cores) if cores else (os.cpu_count() or 1)
            return (second[0] - first[0]) / (second[1] - first[1]) * n
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def free_cores(sample_s: float = SAMPLE_S) -> int:
    """Cores this process may use that nothing else is using (at least 1). A core counts as busy from
    half its time taken: a background job using a quarter of a core should not halve our threads."""
    usable = usable_cores()
    return max(1, usable - int(min(busy_cores(sample_s), usable) + 0.5))


def user_threads() -> int | None:
    """The thread count the user asked for (``PLANEVAL_THREADS``, else ``OMP_NUM_THREADS``), if any."""
    for name in ("PLANEVAL_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def threads_for(share: int = 1, sample_s: float = SAMPLE_S) -> int:
    """Intra-op threads for one of ``share`` stages running side by side."""
    asked = user_threads()
    if asked is not None:
        return max(1, asked // max(1, share))
    return max(1, free_cores(sample_s) // max(1, share))


def adapt(share: int = 1, log: bool = False) -> int:
    """Set torch's intra-op threads for the next stage (imports torch: call it where torch is used)."""
    import torch

    if not enabled():
        return torch.get_num_threads()
    n = threads_for(share)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if log:
        print(f"[threads] {n} of {usable_cores()} cores")
    return n
