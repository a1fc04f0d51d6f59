"""The equivalence table: hand-written predictions against real MATH golds (tests/data/
math_equivalence_pairs.tsv; each gold is read from ../shared/data/math/math_test_full.jsonl by its
``idx``), judged by our checker, by math-verify alone (``$…$``-wrapped) and by Hendrycks' ``is_equiv``.
What must hold: ours makes no more errors than math-verify, in total and in every category; every false
accept of ours is one math-verify makes too; and ours accepts nothing wrong except where the problem asks
for a specific form ("as a mixed number") and the prediction has the right value in another form.
The figures per category: ``python -m harness.text.answers.agreement``."""

from __future__ import annotations

import pytest
from conftest import shared_file

from harness.text.answers.agreement import CHECKERS, DEFAULT_TABLE, judge_all, load_pairs, render, tally


@pytest.fixture(scope="module")
def table() -> tuple[list, dict[str, list[bool]]]:
    pairs = load_pairs(DEFAULT_TABLE, shared_file("math/math_test_full.jsonl"))
    return pairs, judge_all(pairs, workers=2)


def test_the_table_is_large_and_covers_the_classes(table: tuple) -> None:
    pairs, _ = table
    assert len(pairs) >= 300
    categories = {p.category for p in pairs}
    for needed in (
        "mixed-numbers",
        "signed-mixed",
        "thousands",
        "matrices",
        "spacing",
        "fraction-forms",
        "degrees",
        "percent",
        "text-units",
        "intervals",
        "tuples-sets",
    ):
        assert needed in categories
    assert sum(p.expected for p in pairs) > 100 and sum(not p.expected for p in pairs) > 100
    assert all(not p.expected for p in pairs if p.form)  # a form row expects "not equivalent"


def test_ours_is_no_worse_than_math_verify(table: tuple) -> None:
    pairs, verdicts = table
    tallies = tally(pairs, verdicts)
    print("\n" + render(tallies))
    for category, row in tallies.items():
        assert row["ours"].errors <= row["math-verify"].errors, category
    assert tallies["all"]["ours"].errors < tallies["all"]["math-verify"].errors


def test_no_false_accept_math_verify_does_not_make(table: tuple) -> None:
    pairs, verdicts = table
    ours, mv = verdicts["ours"], verdicts["math-verify"]
    extra = [(p.gold, p.prediction) for i, p in enumerate(pairs) if ours[i] and not p.expected and not mv[i]]
    assert extra == []


def test_no_false_accept_outside_asked_forms(table: tuple) -> None:
    pairs, verdicts = table
    accepted_wrong = [p for i, p in enumerate(pairs) if verdicts["ours"][i] and not p.expected]
    assert [(p.category, p.gold, p.prediction) for p in accepted_wrong if not p.form] == []
    assert set(CHECKERS) == set(verdicts)
