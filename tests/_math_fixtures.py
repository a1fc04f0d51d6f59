"""Shared by the math task tests: a canned-output model (a real ``PlanevalLM``) and tiny datasets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _models import tiny_tokenizer

from harness.adapters import Generation, PlanevalLM, SpanRequest, SpanScores
from harness.sampling import Sampling


class CannedLM(PlanevalLM):
    """Answers each prompt with the canned output of the LAST problem in it (few-shot prompts hold
    several), and records the prompts and settings it was called with."""

    identity = "canned"

    def __init__(self, outputs: dict[str, str]):
        super().__init__()
        self.outputs = outputs
        self._tok = tiny_tokenizer()
        self.calls: list[dict[str, Any]] = []

    @property
    def tokenizer(self) -> Any:
        return self._tok

    @property
    def max_length(self) -> int:
        return 64

    @property
    def prefix_token_id(self) -> int:
        return 0

    def score_spans(self, requests: Sequence[SpanRequest], *, progress: bool = False) -> list[SpanScores]:
        raise NotImplementedError("canned outputs only")

    def generate(
        self, prompts: Sequence[str], sampling: Sampling, *, progress: bool = False
    ) -> list[Generation]:
        self.calls.append({"prompts": list(prompts), "sampling": sampling})
        out = []
        for prompt in prompts:
            question = prompt.rsplit("Problem: ", 1)[1].rstrip("\n")
            text = self.outputs[question]
            out.append(Generation(text, self.encode(text), meta={"finish": "stop"}))
        return out


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


GSM8K_ROWS = [
    {"question": "Ducks lay 16 eggs; 7 are used; each sells at $2. Income?", "answer": "9*2=18\n#### 18"},
    {"question": "Tom has 40 apples and buys 2. How many?", "answer": "40+2=<<40+2=42>>42\n#### 42"},
    {"question": "What is 3 + 4?", "answer": "3+4=7\n#### 7"},
    {"question": "What is 8 * 8?", "answer": "8*8=64\n#### 64"},
    {"question": "A town of 1,000 grows by 1,125. Size?", "answer": "1000+1125=2125\n#### 2,125"},
]
GSM8K_TRAIN = [
    {"question": "What is 1 + 1?", "answer": "1+1=<<1+1=2>>2\n#### 2"},
    {"question": "What is 2 * 5?", "answer": "2*5=10\n#### 10"},
    {"question": "What is 9 - 4?", "answer": "9-4=5\n#### 5"},
]
MATH_ROWS = [
    {
        "problem": "Compute $\\frac{2}{4}$.",
        "solution": "It is $\\boxed{\\frac12}$.",
        "level": "Level 1",
        "type": "Algebra",
        "idx": 0,
    },
    {
        "problem": "Expand $x(x+2)$.",
        "solution": "We get $\\boxed{x^2+2x}$.",
        "level": "Level 2",
        "type": "Algebra",
        "idx": 1,
    },
    {
        "problem": "Write 10080 with a separator.",
        "solution": "$\\boxed{10,\\!080}$",
        "level": "Level 2",
        "type": "Prealgebra",
        "idx": 2,
    },
    {
        "problem": "Find the interval.",
        "solution": "So $\\boxed{[2,5)}$.",
        "level": "Level 3",
        "type": "Algebra",
        "idx": 3,
    },
]
