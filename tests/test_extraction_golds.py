"""Every gold answer of the real test sets extracts without failure (../shared/data; skipped when
absent): all 1319 GSM8K test (and 7473 train) golds read as numbers, all 5000 MATH test golds come out
of their solutions as lm-eval's Hendrycks reference extracts them, and MATH-500's ``answer`` field is
what we extract from its solutions. The reference solutions themselves score as correct outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import shared_file
from lm_eval.tasks.hendrycks_math import utils as reference

from harness.jsonl import read_jsonl
from harness.text.answers import hendrycks
from harness.text.answers.math_answers import extract_best, math_gold, normalize
from harness.text.answers.numbers import extract_best as gsm8k_best
from harness.text.answers.numbers import (
    extract_strict,
    format_number,
    gsm8k_gold,
    lm_eval_exact_match,
    parse_number,
)
from tasks.math_common import items_from_rows


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize(("name", "n"), [("gsm8k/test.jsonl", 1319), ("gsm8k/train.jsonl", 7473)])
def test_every_gsm8k_gold_is_a_number(name: str, n: int) -> None:
    rows = _rows(shared_file(name))
    assert len(rows) == n
    for row in rows:
        gold = gsm8k_gold(row["answer"])
        value = parse_number(gold)
        assert value is not None, gold
        assert format_number(value) == gold.replace(",", ""), gold  # integers, some with commas
        # the reference solution as a model output: right under lm-eval's strict filter and ours
        assert lm_eval_exact_match(extract_strict(row["answer"]), row["answer"])
        assert gsm8k_best(row["answer"]) == (value, "hash")


def test_every_math_gold_extracts_as_the_reference_does() -> None:
    rows = _rows(shared_file("math/math_test_full.jsonl"))
    assert len(rows) == 5000
    for row in rows:
        ours = math_gold(row["solution"])
        theirs = reference.remove_boxed(reference.last_boxed_only_string(row["solution"]))
        assert ours == theirs.strip()  # 9 golds have spaces inside the braces, which we strip
        assert hendrycks.strip_string(ours) == reference.strip_string(theirs.strip())
        assert normalize(ours)  # our normalisation never empties a gold
        # the reference solution as a model output: its last stated answer is the gold
        assert extract_best(row["solution"]) == (ours, "boxed")
    items = items_from_rows(rows, "math_test_full")
    assert len({i.sample_id for i in items}) == 5000
    assert {i.level for i in items} == {"1", "2", "3", "4", "5"}


def test_math500_answer_field_is_our_gold() -> None:
    path = shared_file("math/math500_test.jsonl")
    rows = read_jsonl(path)
    assert len(rows) == 500
    for row in rows:
        assert math_gold(row["solution"]) == row["answer"]
    items = items_from_rows(rows, str(path))
    assert items[0].sample_id == "test/precalculus/807.json" and items[0].subject == "Precalculus"
    assert {i.level for i in items} == {"1", "2", "3", "4", "5"}
