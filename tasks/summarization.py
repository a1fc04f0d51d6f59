"""Summarisation ROUGE: a generated summary of each held-out article against its reference
(docs/tasks/rouge.md).

Documents come from a corpus that keeps the reference in ``Document.meta`` (the ``pairs`` source,
``harness/corpus/pairs.py``). Each article is cut to its first ``max_source_tokens`` tokens (the model's
tokenizer) and put into ``template`` (``{article}`` is replaced); the model continues the prompt with at
most ``max_new_tokens`` tokens, stopping at end-of-text. ``summary_prompt``
(``harness.text.summarization``) is the one place that builds the prompt: trainers that learn to
summarise (``trainers/reward_weighted``) call it too, so training and evaluation see the same input.
Scores are rouge-score F1 against the full reference, with the same implementation and rougeLsum
sentence handling as the ``rouge`` task (``harness.text.rouge.score_rouge``).
"""

from __future__ import annotations

import random

import pandas as pd
from pydantic import Field, field_validator

from harness.adapters import PlanevalLM, generation_needs
from harness.generation import PromptedProtocol
from harness.sampling import Sampling
from harness.text.rouge import ROUGE_TYPES
from harness.text.summarization import ARTICLE, DEFAULT_TEMPLATE, summary_prompt
from tasks.base import TASKS, MetricInfo, Task, TaskContext, TaskParams
from tasks.generation import generations
from tasks.rouge import with_rouge


class SummarizationParams(TaskParams):
    n_samples: int = Field(50, ge=1)
    split: str = Field("test", pattern="^(val|test)$")
    reference_field: str = Field("reference", description="Document.meta key holding the reference")
    max_source_tokens: int = Field(96, ge=1, description="article tokens kept in the prompt")
    max_new_tokens: int = Field(48, ge=1)
    template: str = DEFAULT_TEMPLATE
    temperature: float = Field(0.0, ge=0, description="0: greedy")
    top_k: int | None = Field(None, ge=1)
    rouge_types: tuple[str, ...] = Field(ROUGE_TYPES, min_length=1)
    use_stemmer: bool = False
    implementation: str = Field("rouge-score", pattern="^rouge-score$")

    @field_validator("template")
    @classmethod
    def _has_article(cls, v: str) -> str:
        if ARTICLE not in v:
            raise ValueError(f"template must contain {ARTICLE}")
        return v

    @field_validator("rouge_types")
    @classmethod
    def _types(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [t for t in v if t not in ROUGE_TYPES]
        if bad:
            raise ValueError(f"unknown ROUGE type(s) {bad} (valid: {', '.join(ROUGE_TYPES)})")
        return v


@TASKS.register("summarization")
class Summarization(Task):
    """ROUGE F1 of generated vs reference summaries of held-out articles."""

    Params = SummarizationParams
    limit_params = ("n_samples",)
    version = "1"
    #: any subset of the types scored (each is a column of its own): re-scorable without the model
    aggregate_params = ("rouge_types",)
    #: what the per-sample function reads of the stored texts: any of them re-scores without the model
    sample_params = ("rouge_types", "use_stemmer")
    metrics = {
        t: MetricInfo(higher_is_better=True, description=f"{t} F1 of summaries, mean over articles")
        for t in ROUGE_TYPES
    } | {
        "summary_tokens": MetricInfo(
            higher_is_better=True, description="mean generated summary length (tokens)", fmt=".1f", rank=False
        )
    }

    def needs(self, params: SummarizationParams) -> frozenset[str]:
        return generation_needs(params.temperature)

    def evaluate(self, model: PlanevalLM, ctx: TaskContext) -> pd.DataFrame:
        params: SummarizationParams = ctx.params
        docs = [d for d in ctx.corpus.split(params.split) if d.meta.get(params.reference_field)]
        if not docs:
            raise ValueError(
                f"summarization: no document of the {params.split} split has meta[{params.reference_field!r}]"
                " (use a corpus source that keeps references, e.g. 'pairs')"
            )
        order = list(range(len(docs)))
        random.Random(ctx.seed).shuffle(order)
        docs = [docs[i] for i in order[: params.n_samples]]
        tok = model.tokenizer
        prompts = [
            summary_prompt(
                d.text,
                model.encode,
                lambda ids: tok.decode(list(ids)),
                params.max_source_tokens,
                params.template,
            )
            for d in docs
        ]
        sampling = Sampling(
            max_new_tokens=params.max_new_tokens,
            temperature=params.temperature,
            top_k=params.top_k,
            seed=ctx.seed,
            stop_at_eos=True,
        )
        gens = generations(model, ctx).prompted(
            PromptedProtocol(sampling=sampling), [d.id for d in docs], prompts
        )
        table = pd.DataFrame(
            {
                "sample_id": [d.id for d in docs],
                "generated": [text.strip() for text in gens["text"]],
                "reference": [str(d.meta[params.reference_field]) for d in docs],
                "summary_tokens": list(gens["n_tokens"]),
                "finish": list(gens["finish"]),
            }
        )
        return self.score_samples(table, params)

    def score_samples(self, samples: pd.DataFrame, params: SummarizationParams) -> pd.DataFrame:
        return with_rouge(samples, params)

    def aggregate(self, samples: pd.DataFrame, params: SummarizationParams) -> dict[str, float]:
        out = {t: float(samples[t].mean()) if len(samples) else float("nan") for t in params.rouge_types}
        out["summary_tokens"] = float(samples["summary_tokens"].mean()) if len(samples) else float("nan")
        return out
