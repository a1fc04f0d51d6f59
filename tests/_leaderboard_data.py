"""A small leaderboard with real per-sample tables, written the way the runner writes one.

Per-sample tables are synthetic but shaped like the real tasks' (perplexity: nll / n_tokens / n_bytes per
document; rouge: one row per prompt and length), metrics come from the registered tasks' ``aggregate``
and ``bootstrap_ci``, so compare, regress, plots and the web page run on the same code paths as after
``planeval run``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.statistics import bootstrap_ci
from leaderboard.store import MetricRecord, RunRecord, Store
from tasks.base import TASKS

XSS = "<script>alert(1)</script>"
PPL_PARAMS = {"mode": "paper", "window": 128, "split": "test", "max_docs": None}
ROUGE_PARAMS = {"n_prompts": 40, "lengths": [32, 64], "rouge_types": ["rouge1", "rouge2"]}


def perplexity_samples(n_docs: int, nll_per_token: float, seed: int, noise: float = 0.05) -> pd.DataFrame:
    """Documents whose difficulty is shared across models (fixed rng), plus model-specific noise."""
    docs = np.random.default_rng(1000)  # same documents for every model
    n_tokens = docs.integers(50, 400, size=n_docs)
    difficulty = docs.normal(0.0, 0.3, size=n_docs)
    own = np.random.default_rng(seed).normal(0.0, noise, size=n_docs)
    return pd.DataFrame(
        {
            "sample_id": [f"doc-{i}" for i in range(n_docs)],
            "n_tokens": n_tokens,
            "nll": n_tokens * (nll_per_token + difficulty + own),
            "n_bytes": n_tokens * 4,
        }
    )


def rouge_samples(n_prompts: int, level: float, seed: int) -> pd.DataFrame:
    prompts = np.random.default_rng(2000)
    base = prompts.uniform(0.1, 0.5, size=n_prompts)
    own = np.random.default_rng(seed)
    rows = []
    for i in range(n_prompts):
        for length in ROUGE_PARAMS["lengths"]:
            r1 = float(np.clip(base[i] + level + own.normal(0, 0.03), 0, 1))
            rows.append({"sample_id": f"p{i}", "length": length, "rouge1": r1, "rouge2": r1 / 2})
    return pd.DataFrame(rows)


@dataclass
class Fixture:
    store: Store
    root: Path
    run_ids: dict[tuple[str, str, int], str] = field(default_factory=dict)

    def record(
        self,
        variant: str,
        family: str,
        task: str,
        task_name: str,
        params: dict,
        samples: pd.DataFrame,
        seed: int = 0,
        suite: str = "s",
        n_boot: int = 50,
        commit: str = "abc123",
    ) -> str:
        cls = TASKS.get(task_name)
        impl, validated = cls(), cls.Params.model_validate(params)
        values = impl.aggregate(samples, validated)
        agg = lambda df: impl.aggregate(df, validated)  # noqa: E731
        cis = bootstrap_ci(samples, agg, n_boot=n_boot, groups="sample_id")
        at = "" if commit == "abc123" else f"@{commit}"  # a later commit of the same run: a new row
        run_id = hashlib.sha1(f"{suite}/{variant}/{task}/{seed}{at}".encode()).hexdigest()[:32]
        path = self.root / run_id / "samples.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        samples.to_parquet(path, index=False)
        run = RunRecord(
            run_id=run_id, suite=suite, variant=variant, family=family, task=task, task_name=task_name,
            seed=seed, config_hash=f"cfg-{variant}", model_key=f"model-{variant}-{seed}", eval_key=run_id,
            git_commit=commit, package_versions={"torch": "2"}, timings={"eval_s": 1.5},
            params=json.loads(validated.model_dump_json()), samples_path=str(path),
        )  # fmt: skip
        n = int(samples["sample_id"].nunique())
        keys = impl.metric_keys(values)
        metrics = [
            MetricRecord(
                name,
                float(v),
                n,
                *cis[name],
                higher_is_better=impl.metric_info(keys[name]).higher_is_better,
                base=keys[name].base,
                dims=keys[name].dims,
            )
            for name, v in values.items()
        ]
        self.store.record(run, metrics)
        self.run_ids[(variant, task, seed)] = run_id
        return run_id


#: variant -> (family, nll per token, rouge level); "better" is planted better, "same" equals "base"
VARIANTS = {
    "base": ("lm", 3.0, 0.0),
    "better": ("planner", 2.9, 0.08),
    "same": ("planner", 3.0, 0.0),
    XSS: ("lm", 3.2, -0.05),
}


def build(root: Path, seeds: tuple[int, ...] = (0,), variants: dict | None = None) -> Fixture:
    """The store at ``root/lb.db`` with ppl and rouge runs of every variant and seed."""
    fx = Fixture(Store(root / "lb.db"), root / "cache")
    for i, (variant, (family, nll, level)) in enumerate((variants or VARIANTS).items()):
        for seed in seeds:
            noise_seed = 17 * i + seed
            ppl, rouge = perplexity_samples(120, nll, noise_seed), rouge_samples(40, level, noise_seed)
            fx.record(variant, family, "ppl", "perplexity", PPL_PARAMS, ppl, seed)
            fx.record(variant, family, "rouge", "rouge", ROUGE_PARAMS, rouge, seed)
    return fx
