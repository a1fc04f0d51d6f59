"""The plan-tuned family (docs/families/plan_tuned.md): SFT on (problem, plan, execution, answer) tuples
and GRPO on top.

* ``plan-sft`` (``sft.py``): TRL ``SFTTrainer`` with the loss on completion tokens only, in three
  formats — ``solution`` (the SFT baseline: problem → solution), ``plan`` (M1: problem → plan +
  execution + answer, one completion) and ``two-stage`` (M2: problem → plan, and problem + plan →
  execution + answer, two completions; evaluated in two stages by ``adapter.TwoStageLM``).
* ``plan-grpo`` (``grpo.py``): TRL ``GRPOTrainer`` from an SFT checkpoint (a ``Requirement`` on the SFT
  variant), reward ``1[answer correct] + λ·sim(plan, reference plan)`` (``rewards.py``); λ = 0 is the
  answer-only ablation.
* Plans come from a registered plan source (``plans.py``): the generator's gold plans, steps parsed from
  GSM8K reference solutions, or a teacher model with best-of-N and a verifier (``teacher.py``).

The text format is ``harness.corpus.arithmetic.format`` (prompt ``harness.text.math_prompts.PROMPT``).
"""
