"""What a suite's stages are doing, read from the shared home and leaderboard alone: the view of a suite
that runs elsewhere (another terminal, a Slurm or Ray back end writing to the same cache).

A stage is ``done`` when its artifact is in the cache and verifies, ``running`` while someone holds its
lease (the lease names the host and pid of the builder), ``failed`` when the leaderboard holds a failed
row for one of its evaluations (or, for a training, for one of the evaluations of its model) and nothing
is building it, and ``queued`` otherwise. The ETA is an ESTIMATE: the recorded timings of the same stage
kind scaled by size (``harness.executors.estimate``), summed over the stages not done, divided by how
many run at once now (at least one).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.cache import Cache
from harness.executors.estimate import Estimator, duration
from harness.executors.graph import Stage
from harness.lease import read_lease

STATES = ("done", "running", "failed", "queued")


@dataclass(frozen=True)
class StageState:
    stage: Stage
    state: str  # one of STATES
    detail: str = ""  # who builds it, or why it failed


def failed_runs(db_url: str) -> dict[str, str]:
    """The leaderboard's failed rows: run id → error (none when there is no database yet)."""
    from harness.errors import PlanevalError
    from leaderboard.store import Store

    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///") :]).exists():
        return {}
    try:
        runs = Store(db_url).runs(status="failed")
    except PlanevalError:
        return {}
    return {r["run_id"]: str(r.get("error") or "failed") for r in runs.to_dict("records")}


def stage_states(stages: dict[str, Stage], cache: Cache, failed: dict[str, str]) -> list[StageState]:
    """Each stage's state (see the module docstring); ``failed``: the leaderboard's failed run ids."""
    out = []
    for s in stages.values():
        if cache.inspect(s.dir, s.key).ok:
            out.append(StageState(s, "done"))
            continue
        lease = read_lease(cache.lease_path(s.dir, s.key))
        if lease is not None and not lease.stale(cache.ttl):
            out.append(StageState(s, "running", f"built by {lease.describe()}"))
            continue
        # a training's failure is recorded on its model's evaluations
        readers = [t for t in stages.values() if t.kind == "eval" and s.id in t.deps]
        evals = s.evals or [e for t in readers for e in t.evals]
        errors = [failed[e.run_id] for e in evals if e.run_id in failed]
        if errors:
            out.append(StageState(s, "failed", str(errors[0]).splitlines()[0][:160]))
        else:
            out.append(StageState(s, "queued"))
    return out


def report(states: list[StageState], runs: pd.DataFrame) -> str:
    """Counts per state, the running and failed stages, and the ETA of the rest."""
    counts = Counter(st.state for st in states)
    lines = [", ".join(f"{counts.get(k, 0)} {k}" for k in STATES) + f" (of {len(states)} stages)"]
    for st in states:
        if st.state in ("running", "failed"):
            lines.append(f"  {st.state:<8} {st.stage.kind:<9} {st.stage.label}  {st.detail}")
    left = [st.stage for st in states if st.state in ("running", "queued")]
    if left:
        at_once = max(1, counts.get("running", 0))
        eta, missing = eta_seconds(left, at_once, Estimator(runs))
        lines.append(
            f"ETA ~{duration(eta)} (an ESTIMATE from recorded timings, {at_once} at once"
            + (f"; {missing} stages without a recorded timing not counted)" if missing else ")")
        )
    return "\n".join(lines)


def eta_seconds(left: list[Stage], at_once: int, est: Estimator) -> tuple[float, int]:
    """The estimated seconds until ``left`` are built, ``at_once`` at a time, and how many of them have
    no recorded timing to estimate from (not counted)."""
    seconds = [est.stage(s).seconds for s in left]
    known = [x for x in seconds if x is not None]
    return sum(known) / max(1, at_once), len(seconds) - len(known)
