"""ROUGE of generated vs true continuations of held-out prefixes (docs/tasks/rouge.md).

Each prompt (``harness.text.prompts``) is continued once with ``max(lengths)`` new tokens; the score
at length L compares the first L generated tokens with the first L true tokens, both decoded by the
model's tokenizer. Scores are F1 from ``harness.text.rouge.score_rouge`` (shared with the trainers that
reward ROUGE). ``implementation`` picks its scorer and, like ``use_stemmer``, is a Param, so it is part
of every cache key and leaderboard row: ROUGE numbers from different implementations or stemming
settings do not compare.

``implementation: pltrdy`` scores as pltrdy's ``rouge`` package (``harness.text.rouge_pltrdy``; paper
A's numbers): sentences split on ".", case-sensitive words, n-gram *sets*, a summary-level ROUGE-L over
word sets. It has rouge1/rouge2/rougeL only (its rouge-l is already summary-level) and no stemming.

The continuations come from the shared generation protocol (``harness.generation``): cached per model,
prompts and seed, and shared with ``action_edit`` when both ask for the same prompts and longest length.
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from pydantic import Field, field_validator, model_validator

from harness.adapters import PlanevalLM, generation_needs
from harness.generation import ContinuationProtocol, at_length
from harness.sampling import Sampling
from harness.text import rouge_pltrdy
from harness.text.rouge import ROUGE_TYPES, score_rouge, spacy_split
from tasks.base import LENGTH, TASKS, MetricInfo, MetricValues, Task, TaskContext, TaskParams
from tasks.generation import generations


class RougeParams(TaskParams):
    n_prompts: int = Field(50, ge=1)
    min_prefix_tokens: int = Field(32, ge=1)
    lengths: tuple[int, ...] = Field((128, 256), min_length=1)
    temperature: float = Field(1.0, ge=0)
    top_k: int | None = Field(None, ge=1)
    rouge_types: tuple[str, ...] = Field(ROUGE_TYPES, min_length=1)
    use_stemmer: bool = False
    split: Literal["val", "test"] = "test"
    implementation: Literal["rouge-score", "pltrdy"] = "rouge-score"
    #: continuations are exactly ``max(lengths)`` tokens (EOS suppressed), like the true continuations
    fixed_length: bool = True

    @field_validator("lengths")
    @classmethod
    def _lengths(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if min(v) < 1:
            raise ValueError("lengths must be positive token counts")
        if len(set(v)) != len(v):
            raise ValueError("lengths must be distinct")
        return tuple(sorted(v))

    @field_validator("rouge_types")
    @classmethod
    def _types(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [t for t in v if t not in ROUGE_TYPES]
        if bad:
            raise ValueError(f"unknown ROUGE type(s) {bad} (valid: {', '.join(ROUGE_TYPES)})")
        if len(set(v)) != len(v):
            raise ValueError("rouge_types must be distinct")
        return v

    @model_validator(mode="after")
    def _implementation(self) -> RougeParams:
        if self.implementation == "pltrdy":
            bad = [t for t in self.rouge_types if t not in rouge_pltrdy.TYPES]
            if bad:
                raise ValueError(
                    f"implementation pltrdy has no {bad} (its rouge-l is summary-level already): "
                    f"set rouge_types to a subset of {list(rouge_pltrdy.TYPES)}"
                )
            if self.use_stemmer:
                raise ValueError("implementation pltrdy has no stemmer: use_stemmer must be false")
        return self


@TASKS.register("rouge")
class Rouge(Task):
    """ROUGE F1 of sampled vs true continuations at several continuation lengths."""

    Params = RougeParams
    limit_params = ("n_prompts",)
    version = "1"
    #: any subset of the types scored (each is a column of its own): re-scorable without the model
    aggregate_params = ("rouge_types",)
    #: what the per-sample function reads of the stored texts: any of them re-scores without the model
    sample_params = ("rouge_types", "use_stemmer", "implementation")
    metrics = {
        t: MetricInfo(True, f"{t} F1, mean over prompts (and per continuation length)", dims=(LENGTH,))
        for t in ROUGE_TYPES
    }

    def needs(self, params: RougeParams) -> frozenset[str]:
        return generation_needs(params.temperature, not params.fixed_length)

    def evaluate(self, model: PlanevalLM, ctx: TaskContext) -> pd.DataFrame:
        params: RougeParams = ctx.params
        sampling = Sampling(
            max_new_tokens=max(params.lengths),
            temperature=params.temperature,
            top_k=params.top_k,
            seed=ctx.seed,
            stop_at_eos=not params.fixed_length,
        )
        protocol = ContinuationProtocol(
            n_prompts=params.n_prompts,
            min_prefix_tokens=params.min_prefix_tokens,
            split=params.split,
            sampling=sampling,
        )
        gens = generations(model, ctx).continuations(protocol, ctx.corpus)
        tok = model.tokenizer
        rows: list[dict] = []
        for g in gens.itertuples(index=False):
            for n in params.lengths:
                rows.append(
                    {
                        "sample_id": g.sample_id,
                        "length": n,
                        "generated": at_length(tok, g.token_ids, n),
                        "reference": at_length(tok, g.continuation_ids, n),
                        "n_generated": min(n, len(g.token_ids)),
                    }
                )
        return self.score_samples(pd.DataFrame(rows), params)

    def score_samples(self, samples: pd.DataFrame, params: RougeParams) -> pd.DataFrame:
        table = with_rouge(samples.drop(columns=["implementation"], errors="ignore"), params)
        table["implementation"] = params.implementation  # ROUGE from different scorers does not compare
        return table

    def aggregate(self, samples: pd.DataFrame, params: RougeParams) -> dict[str, float]:
        out = MetricValues(self.metrics)
        for t in params.rouge_types:
            out.put(t, _mean(samples[t]))
        for n in params.lengths:
            at = samples[samples["length"] == n]
            for t in params.rouge_types:
                out.put(t, _mean(at[t]), length=n)
        return out


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else float("nan")


def with_rouge(samples: pd.DataFrame, params: RougeParams | Any) -> pd.DataFrame:
    """The per-sample function of the ROUGE tasks: each row's ``generated`` vs ``reference`` text scored
    for ``params.rouge_types`` (with its ``use_stemmer`` and ``implementation``), replacing any ROUGE
    columns the table held."""
    table = samples.drop(columns=list(ROUGE_TYPES), errors="ignore")
    scores = score_rouge(
        list(table["generated"]),
        list(table["reference"]),
        rouge_types=params.rouge_types,
        use_stemmer=params.use_stemmer,
        implementation=params.implementation,
        split=spacy_split,  # used for rougeLsum only (score_rouge's rule); pltrdy splits on "." itself
    )
    scored = pd.DataFrame(scores, index=table.index, columns=list(params.rouge_types))
    return pd.concat([table, scored], axis=1)
