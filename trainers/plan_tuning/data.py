"""Training rows for each format, tokenized exactly as the model sees them at evaluation.

A row is ``(prompt, completion)``. It is tokenized as ``[prefix] + encode(prompt)`` followed by
``encode(completion) + [eos]`` with ``completion_mask`` 0 on the prompt and 1 on the completion; TRL's
``SFTTrainer`` (``completion_only_loss=True``) turns the mask into labels of -100 on the prompt. The
prompt and completion are encoded separately, as at evaluation, where ``HFCausalLM.generate`` encodes
``[prefix] + prompt`` and the model continues it token by token — so no token straddles the boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harness.corpus import Document
from harness.corpus.arithmetic.format import (
    SOLUTION_HEADER,
    plan_completion,
    render_plan,
    solution_completion,
)
from harness.text.math_prompts import format_prompt

Format = Literal["solution", "plan", "two-stage"]
#: what M2's execution stage is prompted with after the plan (its completion starts after it)
EXECUTION_HEADER = SOLUTION_HEADER.rstrip()
#: bumped when a format's rows change, so its models (and only its models) get new keys
FORMAT_REVISIONS: dict[str, int] = {"two-stage": 2}


@dataclass(frozen=True)
class MathExample:
    """One training tuple (problem, plan, execution, answer)."""

    id: str
    question: str
    plan: tuple[str, ...]
    execution: tuple[str, ...]
    answer: str

    @classmethod
    def from_document(cls, doc: Document) -> MathExample:
        m = doc.meta
        missing = [k for k in ("question", "answer", "plan", "execution") if k not in m]
        if missing:
            raise ValueError(
                f"document {doc.id}: meta has no {', '.join(missing)} "
                "(plan tuning needs a math corpus: sources arithmetic or gsm8k-jsonl)"
            )
        return cls(doc.id, m["question"], tuple(m["plan"]), tuple(m["execution"]), str(m["answer"]))


def prompt_of(question: str) -> str:
    return format_prompt(question)


def rows(example: MathExample, fmt: Format) -> list[tuple[str, str]]:
    """The ``(prompt, completion)`` rows one example contributes in a format."""
    prompt = prompt_of(example.question)
    if fmt == "solution":
        return [(prompt, solution_completion(example.execution, example.answer))]
    if fmt == "plan":
        return [(prompt, plan_completion(example.plan, example.execution, example.answer))]
    if fmt == "two-stage":
        plan = render_plan(example.plan)
        solution = solution_completion(example.execution, example.answer)
        # the execution stage's prompt ends with the header: were it ``prompt + plan`` alone, the plan
        # rows (plan → EOS) and the execution rows (plan → "Solution:") would share a context and
        # teach opposite next tokens — at evaluation the model then ends half its answers at the plan
        return [(prompt, plan), (prompt + plan + EXECUTION_HEADER, solution[len(EXECUTION_HEADER) :])]
    raise ValueError(f"unknown format {fmt!r}")


def prefix_id(tokenizer: Any) -> int:
    """The token before every prompt, as ``HFCausalLM`` puts it there (BOS, else EOS)."""
    return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id


def tokenize_row(tokenizer: Any, prompt: str, completion: str) -> tuple[list[int], list[int]]:
    """``(input_ids, completion_mask)`` of one row (EOS closes the completion and is learned)."""
    head = [prefix_id(tokenizer), *tokenizer(prompt, add_special_tokens=False)["input_ids"]]
    tail = [*tokenizer(completion, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    return head + tail, [0] * len(head) + [1] * len(tail)


@dataclass
class TokenizedRows:
    input_ids: list[list[int]]
    completion_mask: list[list[int]]
    dropped: int  # rows longer than max_length (left out rather than cut: a cut row has no answer)

    def to_dict(self) -> dict[str, list[list[int]]]:
        return {"input_ids": self.input_ids, "completion_mask": self.completion_mask}


def tokenize_rows(tokenizer: Any, pairs: Sequence[tuple[str, str]], max_length: int) -> TokenizedRows:
    out = TokenizedRows([], [], 0)
    for prompt, completion in pairs:
        ids, mask = tokenize_row(tokenizer, prompt, completion)
        if len(ids) > max_length:
            out.dropped += 1
            continue
        out.input_ids.append(ids)
        out.completion_mask.append(mask)
    return out


def policy_prompt(tokenizer: Any, prompt: str) -> str:
    """The prompt as text that the tokenizer (with its default special tokens) encodes to
    ``[prefix] + encode(prompt)``: what GRPO, which tokenizes text prompts itself, must be given so the
    policy sees the evaluation-time context."""
    want = [prefix_id(tokenizer), *tokenizer(prompt, add_special_tokens=False)["input_ids"]]
    for text in (prompt, tokenizer.decode([prefix_id(tokenizer)]) + prompt):
        if tokenizer(text)["input_ids"] == want:
            return text
    raise ValueError(f"the tokenizer cannot encode the prefix token in front of a prompt: {prompt[:60]!r}")
