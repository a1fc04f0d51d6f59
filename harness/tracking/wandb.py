"""Weights & Biases: one W&B run per training and per evaluation, grouped by suite.

Offline by default (``WANDB_MODE=offline``; files under ``WANDB_DIR``, default ``<home>/wandb``, for
``wandb sync`` later): online only when ``WANDB_MODE=online`` or an API key is configured
(``WANDB_API_KEY``), so a run never stops to ask for a login. ``WANDB_PROJECT`` (default ``planeval``)
and ``WANDB_ENTITY`` as W&B reads them. A training's curves are logged per phase against the phase's
own step (``lm/loss`` over ``lm/step``); an evaluation's metrics go to its run summary.
"""

from __future__ import annotations

import math
import os
from typing import Any

from harness.tracking import TRACKERS, EvalLog, Tracker, TrainingLog, flat


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


@TRACKERS.register("wandb")
class WandbTracker(Tracker):
    def _init(self, name: str, job_type: str, config: dict[str, Any], tags: list[str]) -> Any:
        import wandb  # heavy: only when this tracker is used

        mode = os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
        folder = os.environ.get("WANDB_DIR") or str(self.home / "wandb")
        os.makedirs(folder, exist_ok=True)
        return wandb.init(
            project=os.environ.get("WANDB_PROJECT", "planeval"),
            entity=os.environ.get("WANDB_ENTITY") or None,
            group=self.suite,
            job_type=job_type,
            name=name,
            config=config,
            tags=tags,
            dir=folder,
            mode=mode,
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off"),
        )

    def log_training(self, entry: TrainingLog) -> None:
        config = {
            "suite": entry.suite, "variant": entry.variant, "family": entry.family, "seed": entry.seed,
            "train_key": entry.train_key, **flat(entry.config, "config."), **flat(entry.provenance),
        }  # fmt: skip
        run = self._init(f"{entry.variant} seed={entry.seed}", "train", config, [entry.family, "train"])
        try:
            for phase in dict.fromkeys(row["phase"] for row in entry.history):
                run.define_metric(f"{phase}/step")
                run.define_metric(f"{phase}/*", step_metric=f"{phase}/step")
            for row in entry.history:
                phase = row["phase"]
                values = _numbers({k: v for k, v in row.items() if k != "phase"})
                run.log({f"{phase}/{k}": v for k, v in values.items()})
            run.summary.update(_numbers(flat(entry.summary)))
        finally:
            run.finish()

    def log_eval(self, entry: EvalLog) -> None:
        config = {
            "suite": entry.suite, "variant": entry.variant, "family": entry.family, "seed": entry.seed,
            "task": entry.task, "task_name": entry.task_name, "run_id": entry.run_id,
            "eval_key": entry.eval_key, "model_key": entry.model_key, **flat(entry.params, "params."),
            **flat(entry.provenance),
        }  # fmt: skip
        name = f"{entry.task} × {entry.variant} seed={entry.seed}"
        run = self._init(name, "eval", config, [entry.family, "eval", entry.task_name])
        try:
            run.summary.update({f"{entry.task}/{k}": v for k, v in entry.metrics.items()})
            for k, (low, high) in entry.intervals.items():
                if low is not None and high is not None:
                    run.summary.update({f"{entry.task}/{k}_ci_low": low, f"{entry.task}/{k}_ci_high": high})
            run.summary.update({"status": entry.status, **({"error": entry.error} if entry.error else {})})
        finally:
            run.finish(exit_code=0 if entry.status == "ok" else 1)
