"""The prompt and completion format shared by the math tasks (``gsm8k``, ``math``) and the plan-tuning
trainers, so a model is evaluated on exactly the format it was trained on.

Zero-shot prompt: ``PROMPT`` (``"Problem: {question}\\n"``). A completion is
``"Plan: ...\\nSolution: ...\\n#### {answer}"`` (plan-tuned) or ``"Solution: ...\\n#### {answer}"`` (SFT
baseline). Few-shot: ``k`` worked examples, each ``FEWSHOT`` filled with a train-split problem and its
reference solution (ending in ``#### {answer}``, see ``solution_with_answer``), precede the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence

#: the zero-shot prompt; the model continues it with "Plan: ..." or "Solution: ..."
PROMPT = "Problem: {question}\n"
#: one worked example placed before the prompt in few-shot evaluation
FEWSHOT = "Problem: {question}\nSolution: {solution}\n\n"
#: the marker in front of the final answer in every completion
ANSWER_MARKER = "#### "


def solution_with_answer(solution: str, answer: str) -> str:
    """A reference solution that ends with ``#### {answer}``, as completions do. GSM8K solutions already
    do; MATH solutions end in a ``\\boxed{}`` sentence, so the marker line is appended to teach the
    format the extractors read first."""
    text = solution.rstrip()
    last = text.rsplit("\n", 1)[-1]
    if last.startswith(ANSWER_MARKER.strip()):
        return text
    return f"{text}\n{ANSWER_MARKER}{answer}"


def format_prompt(
    question: str,
    shots: Sequence[tuple[str, str]] = (),
    *,
    template: str = PROMPT,
    fewshot_template: str = FEWSHOT,
) -> str:
    """The full prompt: each ``(question, solution)`` shot through ``fewshot_template``, then the
    problem through ``template``. Templates use ``str.format`` fields ``{question}``/``{solution}``."""
    parts = [fewshot_template.format(question=q, solution=s) for q, s in shots]
    parts.append(template.format(question=question))
    return "".join(parts)
