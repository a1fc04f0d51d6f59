"""Re-fit latent_ppl's bigram critic under both definitions on a suite's own action sequences.

Latent perplexity changed definition in task version 2 (``planeval-v1`` → Deng et al.'s ``deng2022``,
docs/tasks/latent_ppl.md). This prints what the change does to a suite's figures without retraining or
regenerating anything: the corpus and actions stages are built (or reused) in ``--home``, the critic is
fitted on the train split with δ chosen on validation, and the real held-out documents are scored; with
``--runs`` the generated texts of every latent_ppl run already in that home's leaderboard are re-scored
from their stored per-sample tables (the ``actions`` column) as well.

    .venv/bin/python benchmarks/refit_latent_ppl.py smoke --home /tmp/home [--runs] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from harness.catalog import resolve_suite
from harness.runner import Runner, plan_suite
from tasks.critics import BIGRAM_DEFINITIONS, BigramCritic, perplexity
from tasks.latent_ppl import LatentPplParams


def _gap(gen: float, real: float) -> float:
    ok = all(math.isfinite(v) and v > 0 for v in (gen, real))
    return abs(math.log(gen) - math.log(real)) if ok else math.nan


def refit(suite_name: str, home: Path, with_runs: bool) -> dict[str, Any]:
    suite, source = resolve_suite(suite_name)
    plan = plan_suite(suite, source)
    runner = Runner(home, progress=False, log=lambda msg: print(msg, file=sys.stderr))
    tagger, corpus = runner.actions(plan), runner.corpus(plan)
    specs = [t for t in suite.tasks if t.name == "latent_ppl"]
    if not specs:
        raise SystemExit(f"suite {suite_name} has no latent_ppl task")
    params = LatentPplParams.model_validate(specs[0].params)

    def actions(split: str) -> list[list[int]]:
        return [tagger.document(d.id, d.text).actions.tolist() for d in corpus.split(split)]

    train, val, real = actions("train"), actions("val"), actions(params.split)
    if params.n_real is not None:
        real = real[: params.n_real]
    k = tagger.n_actions
    seen = {a for s in train for a in s}
    out: dict[str, Any] = {
        "suite": suite_name,
        "n_actions": k,
        "ids_seen_in_training": len(seen),
        "val_ids_unseen_in_training": sorted({a for s in val for a in s} - seen),
        "real_ids_unseen_in_training": sorted({a for s in real for a in s} - seen),
        "definitions": {},
    }
    critics = {}
    for definition in BIGRAM_DEFINITIONS:
        critic = BigramCritic.fit(train, k, val, params.deltas, definition)
        critics[definition] = critic
        out["definitions"][definition] = {
            "delta": critic.delta,
            "validation": critic.validation,
            "bigram_real": critic.perplexity(real),
        }
    if with_runs:
        from leaderboard.store import Store

        store = Store(runner.db_url)
        runs = store.runs(suite=suite.name)
        out["runs"] = []
        for row in runs[runs["task_name"] == "latent_ppl"].itertuples():
            samples = store.load_samples(store.get_run(row.run_id))
            if samples is None:
                continue
            gen = [list(map(int, a)) for a in samples[samples["source"] == "generated"]["actions"]]
            entry: dict[str, Any] = {"run_id": row.run_id, "variant": row.variant, "seed": int(row.seed)}
            for definition, critic in critics.items():
                scores = critic.score(gen)
                bigram = perplexity(sum(s for s, _ in scores), sum(n for _, n in scores))
                real_ppl = out["definitions"][definition]["bigram_real"]
                entry[definition] = {"bigram": bigram, "bigram_gap": _gap(bigram, real_ppl)}
            out["runs"].append(entry)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite")
    ap.add_argument("--home", required=True, type=Path)
    ap.add_argument("--runs", action="store_true", help="also re-score the generated texts of stored runs")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()
    figures = refit(args.suite, args.home, args.runs)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
