"""The M2 model at evaluation: plan first, then the execution conditioned on problem + plan.

``generate`` runs two calls of ``HFCausalLM.generate`` on the same weights, each with the caller's
``Sampling`` changed for its stage: stage 1 continues the prompt until the model ends its plan (EOS, as
it was trained, or a ``Solution:`` it writes anyway, or ``plan_max_tokens``); stage 2 continues
``prompt + plan + "Solution:"`` (its training context, ``data.EXECUTION_HEADER``) with what is left of
``max_new_tokens``. The returned text is ``plan + "Solution:" + execution`` — the same shape as an M1
completion, so tasks score both alike — with the plan and each stage's finish reason in ``meta``.
Scoring (log-probs) is the plain model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.adapters import Generation
from harness.corpus.arithmetic.format import SOLUTION_HEADER
from harness.hf_adapter import HFCausalLM
from harness.sampling import Sampling
from trainers.plan_tuning.data import EXECUTION_HEADER

PLAN_STOP = SOLUTION_HEADER.strip()


class TwoStageLM(HFCausalLM):
    def __init__(self, model: Any, tokenizer: Any, identity: str, plan_max_tokens: int = 128, **kwargs: Any):
        super().__init__(model, tokenizer, identity, **kwargs)
        self.plan_max_tokens = plan_max_tokens

    def generate(
        self, prompts: Sequence[str], sampling: Sampling, *, progress: bool = False
    ) -> list[Generation]:
        """Two-stage generation; ``stop_at_eos`` applies to stage 2 (stage 1 always ends at EOS, which
        is where the model was trained to end a plan)."""
        max_new_tokens, stop = sampling.max_new_tokens, sampling.stop
        plan_sampling = sampling.replace(
            max_new_tokens=min(self.plan_max_tokens, max_new_tokens),
            stop=(*stop, PLAN_STOP),
            stop_at_eos=True,
        )
        plans = super().generate(prompts, plan_sampling, progress=progress)
        plan_texts = [_close(g.text) for g in plans]
        budgets = [max_new_tokens - len(g.token_ids) for g in plans]
        top = max(budgets, default=0)
        if top > 0:
            # one batched call (prompt i keeps its seed row i); each row is then cut to its own budget
            execs = super().generate(
                [p + plan + EXECUTION_HEADER for p, plan in zip(prompts, plan_texts, strict=True)],
                sampling.replace(max_new_tokens=top, seed=sampling.seed + 1),
                progress=progress,
            )
        else:
            execs = [Generation("", [], meta={"finish": "length"}) for _ in prompts]
        out = []
        for plan, plan_text, ex, budget in zip(plans, plan_texts, execs, budgets, strict=True):
            ex = self._cut(ex, max(budget, 0), stop)
            out.append(
                Generation(
                    plan_text + EXECUTION_HEADER + ex.text,
                    plan.token_ids + ex.token_ids,  # as generated (a trimmed stop string's tokens included)
                    meta={
                        "finish": ex.meta.get("finish"),
                        "plan": plan_text,
                        "plan_finish": plan.meta.get("finish"),
                        "stages": 2,
                    },
                )
            )
        return out

    def _cut(self, gen: Generation, budget: int, stop: Sequence[str]) -> Generation:
        """``gen`` limited to ``budget`` tokens (stop strings trimmed again from the shorter text)."""
        if len(gen.token_ids) <= budget:
            return gen
        ids = gen.token_ids[:budget]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        cut = min((text.find(s) for s in stop if s and s in text), default=-1)
        return Generation(text[:cut] if cut >= 0 else text, ids, meta={"finish": "length"})


def _close(plan: str) -> str:
    """A plan block ends with a newline, as in training (``Plan:\\n1. …\\n``)."""
    return plan if plan.endswith("\n") or not plan else plan + "\n"
