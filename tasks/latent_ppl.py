"""Latent perplexity (docs/tasks/latent_ppl.md; Deng et al. 2022, paper A): how plausible the *sequence of
writing actions* of a text is under a critic fitted on real training texts, ``exp(-Σ log P / N_transitions)``.

Texts become action sequences through the suite's ``ActionTagger`` (corpus documents use the
precomputed actions of the actions stage; generated texts are split and tagged). Two critics
(``tasks.critics``), both fitted on the TRAIN split's sequences and cached: the bigram transition matrix
with ``<bos>``/``<eos>`` and add-δ smoothing (δ: the best on the validation split) exactly as Deng et
al.'s reference code computes it (``bigram_definition: deng2022``, docs/tasks/latent_ppl.md), and a
``CategoricalHMM``. Each scores the model's unconditional samples (the same cached generations as
``mauve`` with the same sampling params) and the real held-out documents, whose value is the reference a
model is compared with: ``*_gap = |ln ppl(generated) − ln ppl(real)|``.

The sample table keeps per-text log-probabilities and transition counts (the bigram's counted ones:
``deng2022`` skips transitions into or out of ids unseen in training, ``bigram_skipped``), so
``aggregate`` micro-averages over any resample of the texts. The bigram definition is a param, so it is
stored with every run and is part of the evaluation key.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from harness.adapters import PlanevalLM, generation_needs
from tasks.base import TASKS, MetricInfo, Task, TaskContext
from tasks.critics import DEFAULT_DELTAS, BigramDefinition, fit_cached, perplexity
from tasks.generation import UnconditionalParams, generations

CRITICS = ("bigram", "hmm")


class LatentPplParams(UnconditionalParams):
    # generation: UnconditionalParams (shared with mauve and plan_match, so one set of samples)
    # real texts scored for reference
    split: Literal["val", "test"] = "test"
    n_real: int | None = Field(None, ge=1, description="held-out documents scored (default: all)")
    # critics (fitted on the train split; δ chosen on the val split)
    bigram_definition: BigramDefinition = Field(
        "deng2022",
        description="deng2022: Deng et al.'s reference critic; planeval-v1: planeval's own before version 2",
    )
    deltas: tuple[float, ...] = Field(DEFAULT_DELTAS, min_length=1, description="δ grid, searched in order")
    hmm_states: int = Field(32, ge=1)
    hmm_iter: int = Field(100, ge=1)
    hmm_tol: float = Field(1e-3, gt=0)
    hmm_emission_floor: float = Field(1e-4, ge=0)
    hmm_restarts: int = Field(3, ge=1, description="EM starts; the best training likelihood is kept")
    critic_seed: int = 0  # fixed, so every model and seed of a suite meets the same critic

    @field_validator("deltas")
    @classmethod
    def _deltas(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if min(v) < 0:
            raise ValueError("every δ must be >= 0 (0: no smoothing, as the reference allows)")
        return v


def _metric_infos() -> dict[str, MetricInfo]:
    out = {}
    for c in CRITICS:
        out[c] = MetricInfo(False, f"latent perplexity of generated texts under the {c} critic", ".2f")
        out[f"{c}_real"] = MetricInfo(False, f"latent perplexity of real held-out texts ({c} critic)", ".2f")
        out[f"{c}_gap"] = MetricInfo(False, f"|ln ppl(generated) − ln ppl(real)| under the {c} critic", ".3f")
    return out


@TASKS.register("latent_ppl")
class LatentPerplexity(Task):
    """Latent perplexity of generated and real texts under bigram and HMM critics of writing actions."""

    Params = LatentPplParams
    limit_params = ("n_samples", "n_real")
    version = "2"  # 2: the bigram critic is Deng et al.'s (normaliser over seen ids, unseen ids skipped)
    metrics = _metric_infos()

    def artifacts(self, params: LatentPplParams) -> tuple[str, ...]:
        return ("actions",)

    def needs(self, params: LatentPplParams) -> frozenset[str]:
        return generation_needs(params.temperature, params.stop_at_eos)

    def evaluate(self, model: PlanevalLM, ctx: TaskContext) -> pd.DataFrame:
        params: LatentPplParams = ctx.params
        tagger = ctx.actions
        k = tagger.n_actions

        def actions_of(split: str) -> tuple[list[str], list[list[int]]]:
            docs = ctx.corpus.split(split)
            return [d.id for d in docs], [tagger.document(d.id, d.text).actions.tolist() for d in docs]

        _, train = actions_of("train")
        _, val = actions_of("val")
        if not train:
            raise ValueError("latent_ppl: the corpus has no train split to fit the critics on")
        bigram_params = {"deltas": list(params.deltas), "definition": params.bigram_definition}
        bigram = fit_cached(ctx.cache, "bigram", bigram_params, train, val, k)
        hmm_params = {
            "n_states": params.hmm_states,
            "n_iter": params.hmm_iter,
            "tol": params.hmm_tol,
            "emission_floor": params.hmm_emission_floor,
            "seed": params.critic_seed,
            "restarts": params.hmm_restarts,
        }
        hmm = fit_cached(ctx.cache, "hmm", hmm_params, train, [], k)

        real_ids, real = actions_of(params.split)
        if params.n_real is not None:
            real_ids, real = real_ids[: params.n_real], real[: params.n_real]
        protocol = params.protocol(ctx.seed)
        gens = generations(model, ctx).unconditional(protocol)
        generated = tagger.tag(list(gens["text"]), progress=ctx.progress)

        frames = []
        for source, ids, seqs in (
            ("real", real_ids, real),
            ("generated", list(gens["sample_id"]), generated),
        ):
            b, h = bigram.score(seqs), hmm.score(seqs)
            frames.append(
                pd.DataFrame(
                    {
                        "sample_id": ids,
                        "source": source,
                        "actions": [list(map(int, s)) for s in seqs],
                        "n_actions": [len(s) for s in seqs],
                        "bigram_logp": [x for x, _ in b],
                        "bigram_n": [n for _, n in b],
                        "bigram_skipped": [len(s) + 1 - n for s, (_, n) in zip(seqs, b, strict=True)],
                        "hmm_logp": [x for x, _ in h],
                        "hmm_n": [n for _, n in h],
                    }
                )
            )
        table = pd.concat(frames, ignore_index=True)
        table["delta"] = bigram.delta  # the δ validation chose, kept with every row
        table["bigram_definition"] = bigram.definition
        return table

    def aggregate(self, samples: pd.DataFrame, params: LatentPplParams) -> dict[str, float]:
        out: dict[str, float] = {}
        for c in CRITICS:
            ppl = {}
            for source in ("generated", "real"):
                rows = samples[samples["source"] == source]
                ppl[source] = perplexity(float(rows[f"{c}_logp"].sum()), int(rows[f"{c}_n"].sum()))
            out[c] = ppl["generated"]
            out[f"{c}_real"] = ppl["real"]
            gen, real = ppl["generated"], ppl["real"]
            ok = all(np.isfinite(v) and v > 0 for v in (gen, real))
            out[f"{c}_gap"] = abs(math.log(gen) - math.log(real)) if ok else math.nan
        return out
