"""Fill in what rows written before a column existed lack, from the tasks' own declarations: the data
side of a schema revision (``leaderboard.migrations``; the store calls this once, when revision 0004
has just added ``metrics.base``/``dims`` to an older database).

Metric rows recorded before ``base`` and ``dims`` were stored hold only a name (``rouge1@64``). The
structure is not read back out of that name: the run's task re-aggregates the run's stored per-sample
table under the run's params, and ``Task.metric_keys`` says what each reported name is. Runs whose
task is not registered here, whose params no longer validate or whose table is gone keep NULL ("not
known": counted as values over all samples).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update

from harness.errors import PlanevalError

if TYPE_CHECKING:
    from leaderboard.store import Store


def fill_metric_keys(store: Store) -> int:
    """Write ``base``/``dims`` of every metric row that has none, where its run's task can tell;
    returns how many rows were filled."""
    from leaderboard.store import Metric
    from tasks.base import TASKS

    with store._session() as session:
        stmt = select(Metric.run_id).where(Metric.base.is_(None)).distinct()
        pending = set(session.scalars(stmt))
    if not pending:
        return 0
    runs = store.runs(status="ok")
    filled = 0
    for run in runs[runs["run_id"].isin(pending)].to_dict("records"):
        if run["task_name"] not in TASKS:
            continue
        cls = TASKS.get(run["task_name"])
        try:
            params = cls.Params.model_validate(run["params"])
            samples = store.load_samples(run)
            if samples is None:
                continue
            task = cls()
            keys = task.metric_keys(task.aggregate(samples, params))
        except (PlanevalError, ValueError, KeyError, TypeError):
            continue  # an old run its task can no longer read stays "not known"
        with store._session.begin() as session:
            for name, key in keys.items():
                done = session.execute(
                    update(Metric)
                    .where((Metric.run_id == run["run_id"]) & (Metric.name == name) & Metric.base.is_(None))
                    .values(base=key.base, dims=key.dims)
                )
                filled += done.rowcount or 0
    return filled
