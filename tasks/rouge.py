"""ROUGE of generated vs true continuations of held-out prefixes (docs/tasks/rouge.md).

Each prompt (``tasks.prompts``) is continued once with ``max(lengths)`` new tokens; the score at
length L compares the first L generated tokens with the first L true tokens, both decoded by the
model's tokenizer. Scores are F1. ``implementation`` picks the scorer from ``IMPLEMENTATIONS`` and,
like ``use_stemmer``, is a Param, so it is part of every cache key and leaderboard row: ROUGE numbers
from different implementations or stemming settings do not compare.

rougeLsum: rouge-score computes summary-level LCS over sentences it finds by splitting on "\\n"
(its own ``split_summaries`` needs NLTK's punkt data, which cannot be downloaded here). So before
scoring, each text is rewritten one sentence per line: every existing line is split by the
sentencizer (spaCy, ``harness.sentences``) and the stripped sentences are joined with "\\n". The
other types tokenize on non-alphanumerics, so the rewrite leaves their scores unchanged.

``implementation: pltrdy`` scores as pltrdy's ``rouge`` package (``tasks.rouge_pltrdy``; paper A's
numbers): sentences split on ".", case-sensitive words, n-gram *sets*, a summary-level ROUGE-L over
word sets. It has rouge1/rouge2/rougeL only (its rouge-l is already summary-level) and no stemming.

The continuations come from the shared generation protocol (``tasks.generation``): cached per model,
prompts and seed, and shared with ``action_edit`` when both ask for the same prompts and longest length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import pandas as pd
from pydantic import Field, field_validator, model_validator

from harness.adapters import PlanevalLM
from tasks import rouge_pltrdy
from tasks.base import TASKS, MetricInfo, Task, TaskContext, TaskParams
from tasks.generation import ContinuationProtocol, Sampling, at_length, continuations

Splitter = Callable[[str], Sequence[str]]
#: (predictions, references, rouge types, use_stemmer, sentence splitter or None) → F1 per type per pair
RougeImpl = Callable[
    [Sequence[str], Sequence[str], Sequence[str], bool, Splitter | None], list[dict[str, float]]
]

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def one_sentence_per_line(text: str, split: Splitter) -> str:
    """The text rewritten with one sentence per line, for rouge-score's rougeLsum. Existing line
    breaks are sentence breaks too (a paragraph end ends a sentence)."""
    sents = (s.strip() for line in text.split("\n") for s in split(line))
    return "\n".join(s for s in sents if s)


def _rouge_score(
    predictions: Sequence[str],
    references: Sequence[str],
    rouge_types: Sequence[str],
    use_stemmer: bool,
    split: Splitter | None,
) -> list[dict[str, float]]:
    """Google's ``rouge_score`` (the reference ROUGE-1.5.5 re-implementation): F1 per type.
    ``split=None`` means the texts already hold one sentence per line."""
    from rouge_score.rouge_scorer import RougeScorer

    scorer = RougeScorer(list(rouge_types), use_stemmer=use_stemmer)
    out = []
    for pred, ref in zip(predictions, references, strict=True):
        if split is not None and "rougeLsum" in rouge_types:
            pred, ref = one_sentence_per_line(pred, split), one_sentence_per_line(ref, split)
        scores = scorer.score(ref, pred)  # rouge-score takes (target, prediction)
        out.append({t: float(scores[t].fmeasure) for t in rouge_types})
    return out


def _pltrdy(
    predictions: Sequence[str],
    references: Sequence[str],
    rouge_types: Sequence[str],
    use_stemmer: bool,
    split: Splitter | None,
) -> list[dict[str, float]]:
    """pltrdy's ``rouge`` package semantics (``tasks.rouge_pltrdy``): F per type. It splits sentences on
    "." itself (``split`` is ignored) and has no stemmer."""
    if use_stemmer:
        raise ValueError("the pltrdy ROUGE implementation has no stemmer (use_stemmer must be false)")
    return [
        {t: s["f"] for t, s in rouge_pltrdy.score(pred, ref, rouge_types).items()}
        for pred, ref in zip(predictions, references, strict=True)
    ]


#: ROUGE implementations by name (the ``implementation`` Param); each returns F1 per type per pair
IMPLEMENTATIONS: dict[str, RougeImpl] = {"rouge-score": _rouge_score, "pltrdy": _pltrdy}


def score_rouge(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    rouge_types: Sequence[str] = ROUGE_TYPES,
    use_stemmer: bool = False,
    implementation: str = "rouge-score",
    split: Splitter | None = None,
) -> list[dict[str, float]]:
    """F1 of each prediction against its reference, per ROUGE type."""
    try:
        impl = IMPLEMENTATIONS[implementation]
    except KeyError:
        raise ValueError(
            f"unknown ROUGE implementation {implementation!r} (valid: {', '.join(IMPLEMENTATIONS)})"
        ) from None
    return impl(predictions, references, rouge_types, use_stemmer, split)


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


def spacy_split(text: str) -> Sequence[str]:
    """spaCy sentences for rougeLsum (imported on first use: spaCy is slow to load)."""
    from harness.sentences import split_sentences

    return split_sentences(text)


@TASKS.register("rouge")
class Rouge(Task):
    """ROUGE F1 of sampled vs true continuations at several continuation lengths."""

    Params = RougeParams
    version = "1"
    metrics = {
        t: MetricInfo(higher_is_better=True, description=f"{t} F1, mean over prompts and lengths")
        for t in ROUGE_TYPES
    }

    def metric_info(self, name: str) -> MetricInfo:
        base, _, length = name.partition("@")
        if base in ROUGE_TYPES:
            where = f"at {length} tokens" if length else "over prompts and lengths"
            return MetricInfo(higher_is_better=True, description=f"{base} F1, mean {where}")
        return super().metric_info(name)

    def evaluate(self, model: PlanevalLM, ctx: TaskContext) -> pd.DataFrame:
        params: RougeParams = ctx.params
        protocol = ContinuationProtocol(
            n_prompts=params.n_prompts,
            min_prefix_tokens=params.min_prefix_tokens,
            max_new_tokens=max(params.lengths),
            split=params.split,
            stop_at_eos=not params.fixed_length,
            sampling=Sampling(temperature=params.temperature, top_k=params.top_k),
        )
        gens = continuations(model, ctx, protocol)
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
        split = (
            spacy_split if "rougeLsum" in params.rouge_types and params.implementation != "pltrdy" else None
        )
        scores = score_rouge(
            [r["generated"] for r in rows],
            [r["reference"] for r in rows],
            rouge_types=params.rouge_types,
            use_stemmer=params.use_stemmer,
            implementation=params.implementation,
            split=split,
        )
        for row, sc in zip(rows, scores, strict=True):
            row.update(sc)
        table = pd.DataFrame(rows)
        table["implementation"] = params.implementation  # ROUGE from different scorers does not compare
        return table

    def aggregate(self, samples: pd.DataFrame, params: RougeParams) -> dict[str, float]:
        out = {t: _mean(samples[t]) for t in params.rouge_types}
        for n in params.lengths:
            at = samples[samples["length"] == n]
            out.update({f"{t}@{n}": _mean(at[t]) for t in params.rouge_types})
        return out


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else float("nan")
