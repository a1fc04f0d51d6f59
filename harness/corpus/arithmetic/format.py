"""The text format of math problems, shared by the corpus, the plan-tuning trainers and the math tasks.

A training text is ``prompt + completion``:

* prompt: ``"Problem: {question}\\n"`` (the same string as ``harness.text.math_prompts.PROMPT``, which the
  ``gsm8k``/``math`` tasks prompt with; a test keeps the two equal — the engine does not import tasks);
* SFT-baseline completion: ``"Solution: {execution}\\n#### {answer}"``;
* plan-tuned completion: ``"Plan:\\n1. {goal}\\n2. {goal}\\nSolution: {execution}\\n#### {answer}"``.

The plan renders one sub-goal per line, numbered from 1 (``"{i}. {goal}"``) under a ``Plan:`` line; the
execution renders one worked step per line, the first after ``"Solution: "``; the answer line is
``"#### {answer}"``. The two-stage (M2) model is trained on ``prompt → "Plan:\\n1. …\\n"`` and on
``prompt + plan → "Solution: …\\n#### {answer}"``: the plan block is exactly the prefix of an M1
completion up to ``Solution:``, so one parser reads both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

PROMPT = "Problem: {question}\n"
PLAN_HEADER = "Plan:"
SOLUTION_HEADER = "Solution: "
ANSWER_MARKER = "#### "

_NUMBERED = re.compile(r"^\s*\d+\s*[.)]\s*(.*\S)\s*$")


def format_prompt(question: str) -> str:
    return PROMPT.format(question=question)


def render_plan(plan: Sequence[str]) -> str:
    """``"Plan:\\n1. a\\n2. b\\n"``: the plan block, ending with a newline (the M2 stage-1 completion)."""
    return PLAN_HEADER + "\n" + "".join(f"{i}. {goal}\n" for i, goal in enumerate(plan, 1))


def render_solution(execution: Sequence[str], answer: str) -> str:
    """The reference solution text (the ``solution`` meta): worked steps, then ``#### answer``."""
    return "\n".join([*execution, ANSWER_MARKER + answer])


def solution_completion(execution: Sequence[str], answer: str) -> str:
    """The SFT-baseline completion: ``"Solution: …\\n#### answer"``."""
    return SOLUTION_HEADER + render_solution(execution, answer)


def plan_completion(plan: Sequence[str], execution: Sequence[str], answer: str) -> str:
    """The plan-tuned (M1) completion: the plan block, then the SFT-baseline completion."""
    return render_plan(plan) + solution_completion(execution, answer)


@dataclass(frozen=True)
class Parsed:
    """What a completion says: its plan sub-goals, its worked steps and the text after the last
    ``####`` (``None`` when there is no answer line)."""

    plan: tuple[str, ...]
    execution: tuple[str, ...]
    answer: str | None


def parse_completion(text: str) -> Parsed:
    """Read a generated completion (with or without a plan block). Unnumbered lines inside the plan block
    count as sub-goals too, so a sloppy plan is still compared rather than dropped."""
    answer = None
    if ANSWER_MARKER.strip() in text:
        head, tail = text.rsplit(ANSWER_MARKER.strip(), 1)
        answer = tail.strip().split("\n", 1)[0].strip()
    else:
        head = text
    plan_text, sep, solution_text = head.partition(SOLUTION_HEADER.strip())
    if not sep and PLAN_HEADER not in plan_text:  # no headers at all: everything is execution
        plan_text, solution_text = "", head
    plan: list[str] = []
    if PLAN_HEADER in plan_text:
        for line in plan_text.split(PLAN_HEADER, 1)[1].split("\n"):
            m = _NUMBERED.match(line)
            goal = m[1] if m else line.strip()
            if goal:
                plan.append(goal)
    execution = [line.strip() for line in solution_text.split("\n") if line.strip()]
    return Parsed(tuple(plan), tuple(execution), answer)
