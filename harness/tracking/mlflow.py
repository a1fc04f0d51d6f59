"""MLflow: one MLflow run per training and per evaluation, in an experiment named after the suite.

The tracking store is ``MLFLOW_TRACKING_URI`` when set (a server, a database, or a ``file:`` store
with ``MLFLOW_ALLOW_FILE_STORE=true``), else ``sqlite:///<home>/mlflow.db``: local and offline (MLflow
3 keeps its plain-file store in maintenance mode and recommends a database). A training's curves are
metrics ``<phase>.<name>`` at their steps; an evaluation's metrics are logged at step 0 with the task
params as MLflow params. Metric names keep MLflow's alphabet: ``@`` in a breakdown's name becomes
``/`` (``acc@level3`` → ``acc/level3``).
"""

from __future__ import annotations

import math
import os
import re
import time
from typing import Any

from harness.tracking import TRACKERS, EvalLog, Tracker, TrainingLog, flat

_BAD = re.compile(r"[^\w\-. /]")
_BATCH = 1000  # MLflow takes at most 1000 metrics and 100 params per log_batch
_PARAMS = 100
_VALUE = 6000  # the longest param value MLflow stores


def metric_key(name: str) -> str:
    return _BAD.sub("_", name.replace("@", "/"))


@TRACKERS.register("mlflow")
class MlflowTracker(Tracker):
    _client: Any = None
    _experiment: str | None = None

    def _start(self, name: str, tags: dict[str, str], params: dict[str, Any]) -> str:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient  # heavy: only when this tracker is used

        if self._client is None:
            uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"
            self.home.mkdir(parents=True, exist_ok=True)
            self._client = MlflowClient(uri)
            found = self._client.get_experiment_by_name(self.suite)
            self._experiment = found.experiment_id if found else self._client.create_experiment(self.suite)
        run = self._client.create_run(self._experiment, run_name=name, tags=tags)
        items = [Param(metric_key(k)[:250], str(v)[:_VALUE]) for k, v in flat(params).items()]
        for i in range(0, len(items), _PARAMS):
            self._client.log_batch(run.info.run_id, params=items[i : i + _PARAMS])
        return run.info.run_id

    def _metrics(self, run_id: str, points: list[tuple[str, float, int]]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(metric_key(k), float(v), now, int(step))
            for k, v, step in points
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ]
        for i in range(0, len(metrics), _BATCH):
            self._client.log_batch(run_id, metrics=metrics[i : i + _BATCH])

    def log_training(self, entry: TrainingLog) -> None:
        tags = {"planeval.kind": "train", "planeval.variant": entry.variant, "planeval.family": entry.family,
                "planeval.seed": str(entry.seed), "planeval.train_key": entry.train_key}  # fmt: skip
        tags.update({f"planeval.{k}": str(v) for k, v in flat(entry.provenance).items()})
        run_id = self._start(f"{entry.variant} seed={entry.seed}", tags, entry.config)
        points = [
            (f"{row['phase']}.{k}", v, row["step"])
            for row in entry.history
            for k, v in row.items()
            if k not in ("phase", "step")
        ]
        points += [(f"summary.{k}", v, 0) for k, v in flat(entry.summary).items()]
        self._metrics(run_id, points)
        self._client.set_terminated(run_id, "FINISHED")

    def log_eval(self, entry: EvalLog) -> None:
        tags = {"planeval.kind": "eval", "planeval.variant": entry.variant, "planeval.family": entry.family,
                "planeval.seed": str(entry.seed), "planeval.task": entry.task,
                "planeval.run_id": entry.run_id, "planeval.eval_key": entry.eval_key,
                "planeval.model_key": entry.model_key, "planeval.status": entry.status}  # fmt: skip
        if entry.error:
            tags["planeval.error"] = entry.error[:_VALUE]
        tags.update({f"planeval.{k}": str(v) for k, v in flat(entry.provenance).items()})
        run_id = self._start(f"{entry.task} × {entry.variant} seed={entry.seed}", tags, entry.params)
        self._metrics(run_id, [(k, v, 0) for k, v in entry.metrics.items()])
        self._client.set_terminated(run_id, "FINISHED" if entry.status == "ok" else "FAILED")
