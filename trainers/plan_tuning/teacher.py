"""A teacher as a plan source: any causal LM writes plans, best-of-N with a verifier keeps good ones.

As in PLAN-TUNING (2025), where a large model's planning trajectories are distilled with best-of-5 and
an answer check: for each training problem the teacher samples ``n`` completions of a few-shot prompt
(``shots`` training problems written out in the plan-tuned format, then ``Problem: …\\nPlan:\\n``); a
sample is *verified* when it has a plan and its answer equals the gold. The first verified sample (in
sample order) supplies the plan and the worked steps; a problem with none falls back to its gold plan
(``fallback: gold``) or is left out (``fallback: drop``). What happened is recorded per problem.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch
from pydantic import Field

from harness.corpus import Document
from harness.corpus.arithmetic.format import PLAN_HEADER, parse_completion, plan_completion
from harness.hf_adapter import HFCausalLM
from harness.sampling import Sampling
from trainers.plan_tuning.answers import is_correct
from trainers.plan_tuning.data import MathExample, prompt_of
from trainers.plan_tuning.plans import PLAN_SOURCES, PlanParams, PlanResult, PlanSource

STOP = ("\n\nProblem:", "\nProblem:")
_RECORDS_KEPT = 50  # per-problem records stored in the training summary


@dataclass(frozen=True)
class Choice:
    """Which of a problem's samples was kept (``None``: none verified) and how many verified."""

    index: int | None
    n_verified: int


def verified(sample: str, gold: str, require_marker: bool) -> bool:
    """A sample passes when it states a plan and its answer matches the gold."""
    return bool(parse_completion(sample).plan) and is_correct(sample, gold, require_marker)


def select(samples: Sequence[str], gold: str, require_marker: bool = False) -> Choice:
    """Best-of-N with a verifier: the first verified sample."""
    ok = [i for i, s in enumerate(samples) if verified(s, gold, require_marker)]
    return Choice(ok[0] if ok else None, len(ok))


def few_shot_prompt(shots: Sequence[MathExample], question: str) -> str:
    parts = [prompt_of(s.question) + plan_completion(s.plan, s.execution, s.answer) + "\n\n" for s in shots]
    return "".join(parts) + prompt_of(question) + PLAN_HEADER + "\n"


@PLAN_SOURCES.register("teacher")
class TeacherPlans(PlanSource):
    """Plans distilled from a teacher model by name or path (``from_pretrained``)."""

    class Params(PlanParams):
        model: str = Field(description="hub name or local folder of a causal LM")
        n: int = Field(5, ge=1, description="samples per problem (best-of-N)")
        temperature: float = Field(0.7, ge=0)
        top_p: float | None = Field(0.95, gt=0, le=1)
        max_new_tokens: int = Field(256, ge=1)
        shots: int = Field(2, ge=0, description="training problems shown as worked examples")
        batch_size: int = Field(8, ge=1)
        dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"
        require_marker: bool = Field(False, description="demand '#### answer' (teachers may not use it)")
        fallback: Literal["gold", "drop"] = "gold"
        max_items: int | None = Field(None, ge=1, description="distil only the first N problems (rest: gold)")

    params: Params

    def load_teacher(self) -> HFCausalLM:
        p = self.params
        device = "cuda" if torch.cuda.is_available() else "cpu"
        return HFCausalLM.from_pretrained(p.model, batch_size=p.batch_size, device=device, dtype=p.dtype)

    def plans(
        self,
        docs: Sequence[Document],
        *,
        seed: int,
        log: Callable[[str], None] = print,
        progress: bool = False,
        teacher: HFCausalLM | None = None,
    ) -> PlanResult:
        p = self.params
        examples = [MathExample.from_document(d) for d in docs]
        shots, pool = examples[: p.shots], examples[p.shots :]
        todo = pool[: p.max_items] if p.max_items is not None else pool
        lm = teacher if teacher is not None else self.load_teacher()
        log(f"[plans] teacher {p.model}: {p.n} samples for each of {len(todo)} problems")
        prompts = [few_shot_prompt(shots, ex.question) for ex in todo for _ in range(p.n)]
        sampling = Sampling(
            max_new_tokens=p.max_new_tokens, temperature=p.temperature, top_p=p.top_p, seed=seed, stop=STOP
        )
        gens = lm.generate(prompts, sampling, progress=progress)
        out: list[MathExample] = list(shots)
        records, n_verified_docs, n_fallback, n_dropped = [], 0, 0, 0
        for j, ex in enumerate(todo):
            samples = [PLAN_HEADER + "\n" + g.text for g in gens[j * p.n : (j + 1) * p.n]]
            choice = select(samples, ex.answer, p.require_marker)
            record = {
                "id": ex.id,
                "samples": len(samples),
                "verified": choice.n_verified,
                "chosen": choice.index,
            }
            if choice.index is not None:
                parsed = parse_completion(samples[choice.index])
                out.append(replace(ex, plan=parsed.plan, execution=parsed.execution))
                n_verified_docs += 1
            elif p.fallback == "gold":
                out.append(ex)
                n_fallback += 1
                record["fallback"] = "gold"
            else:
                n_dropped += 1
                record["fallback"] = "drop"
            records.append(record)
        out.extend(pool[len(todo) :])  # beyond max_items: gold plans
        stats = {
            "source": "teacher",
            "model": p.model,
            "n": p.n,
            "problems": len(todo),
            "samples": len(gens),
            "verified": n_verified_docs,
            "fallback_gold": n_fallback,
            "dropped": n_dropped,
            "gold_beyond_max_items": len(pool) - len(todo),
            "shots": len(shots),
            "records": records[:_RECORDS_KEPT],
        }
        log(
            f"[plans] teacher verified {n_verified_docs}/{len(todo)} problems "
            f"({n_fallback} fell back to gold, {n_dropped} dropped)"
        )
        return PlanResult(out, stats)
