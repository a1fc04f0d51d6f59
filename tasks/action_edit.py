"""Action edit distance (docs/tasks/action_edit.md; paper A): does the model's continuation of a held-out
prefix follow the same *plan* as the real continuation? Both continuations, cut at L tokens, are tagged
with the suite's writing actions and compared with the Levenshtein distance (unit costs, rapidfuzz)
between their action-id sequences, at each length L (paper: 128/256/512/1024 tokens).

Longer continuations have more sentences, so raw distances grow with L; the normalised distance divides
by ``L / norm_tokens`` (paper A: 128 raw, 256 halved, …) and ``edit_norm`` averages it over the lengths.
The continuations are the shared, cached protocol of ``harness.generation`` (the same ones ``rouge``
scores when it asks for the same prompts and longest length).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd
from pydantic import Field, field_validator

from harness.adapters import PlanevalLM, generation_needs
from harness.generation import ContinuationProtocol, at_length
from harness.sampling import Sampling
from tasks.base import LENGTH, TASKS, MetricInfo, MetricValues, Task, TaskContext, TaskParams
from tasks.generation import generations


def levenshtein(a: Sequence[int], b: Sequence[int]) -> int:
    """Unit-cost edit distance between two id sequences (rapidfuzz's C implementation; lists of ints
    are compared element-wise, not as strings)."""
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(list(a), list(b)))


class ActionEditParams(TaskParams):
    n_prompts: int = Field(50, ge=1)
    min_prefix_tokens: int = Field(32, ge=1)
    lengths: tuple[int, ...] = Field((128, 256, 512, 1024), min_length=1)
    norm_tokens: int = Field(128, ge=1, description="normalised distance = raw × norm_tokens / L")
    temperature: float = Field(1.0, ge=0)
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    split: Literal["val", "test"] = "test"
    fixed_length: bool = True  # continuations are exactly max(lengths) tokens (EOS suppressed)

    @field_validator("lengths")
    @classmethod
    def _lengths(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if min(v) < 1 or len(set(v)) != len(v):
            raise ValueError("lengths must be distinct positive token counts")
        return tuple(sorted(v))


@TASKS.register("action_edit")
class ActionEdit(Task):
    """Levenshtein distance between the action sequences of generated and true continuations."""

    Params = ActionEditParams
    limit_params = ("n_prompts",)
    version = "1"
    metrics = {
        "edit_norm": MetricInfo(
            False, "normalised action edit distance, mean over prompts (and per length)", dims=(LENGTH,)
        ),
        "edit": MetricInfo(
            False, "raw action edit distance, mean over prompts (and per length)", dims=(LENGTH,)
        ),
    }

    def artifacts(self, params: ActionEditParams) -> tuple[str, ...]:
        return ("actions",)

    def needs(self, params: ActionEditParams) -> frozenset[str]:
        return generation_needs(params.temperature, not params.fixed_length)

    def evaluate(self, model: PlanevalLM, ctx: TaskContext) -> pd.DataFrame:
        params: ActionEditParams = ctx.params
        sampling = Sampling(
            max_new_tokens=max(params.lengths),
            temperature=params.temperature,
            top_k=params.top_k,
            top_p=params.top_p,
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
        rows = []
        for g in gens.itertuples(index=False):
            for n in params.lengths:
                rows.append(
                    {
                        "sample_id": g.sample_id,
                        "length": n,
                        "generated": at_length(tok, g.token_ids, n),
                        "reference": at_length(tok, g.continuation_ids, n),
                    }
                )
        texts = [r["generated"] for r in rows] + [r["reference"] for r in rows]
        tagged = ctx.actions.tag(texts, progress=ctx.progress)
        for row, gen_actions, ref_actions in zip(rows, tagged[: len(rows)], tagged[len(rows) :], strict=True):
            raw = levenshtein(gen_actions, ref_actions)
            row.update(
                generated_actions=gen_actions,
                reference_actions=ref_actions,
                edit=raw,
                edit_norm=raw * params.norm_tokens / row["length"],
            )
        return pd.DataFrame(rows)

    def aggregate(self, samples: pd.DataFrame, params: ActionEditParams) -> dict[str, float]:
        out = MetricValues(self.metrics)
        out.put("edit_norm", _mean(samples["edit_norm"]))
        out.put("edit", _mean(samples["edit"]))
        for n in params.lengths:
            at = samples[samples["length"] == n]
            out.put("edit", _mean(at["edit"]), length=n)
            out.put("edit_norm", _mean(at["edit_norm"]), length=n)
        return out


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else float("nan")
