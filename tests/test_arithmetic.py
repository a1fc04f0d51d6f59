"""The math corpus sources: the arithmetic generator (determinism, levels, plan → answer) and GSM8K files."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from conftest import shared_file

from harness.corpus import build_corpus, corpus_sources
from harness.corpus.arithmetic import (
    LEVELS,
    ArithmeticSource,
    GSM8KSource,
    evaluate_steps,
    format_prompt,
    generate_problem,
    parse_completion,
    parse_gsm8k_steps,
    plan_completion,
    render_plan,
    solution_completion,
    strip_annotations,
)
from harness.errors import SpecError
from harness.specs import CorpusSpec

META_KEYS = {"question", "answer", "solution", "plan", "execution", "level"}


def test_registered() -> None:
    assert corpus_sources.get("arithmetic") is ArithmeticSource
    assert corpus_sources.get("gsm8k-jsonl") is GSM8KSource


def test_prompt_matches_the_math_tasks() -> None:
    """The corpus writes the prompt the gsm8k/math tasks evaluate with (agreed format)."""
    from harness.text.math_prompts import PROMPT
    from harness.text.math_prompts import format_prompt as task_prompt

    assert format_prompt("Q?") == PROMPT.format(question="Q?") == task_prompt("Q?")


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_problem_is_deterministic_and_consistent(level: int) -> None:
    for i in range(200):
        a = generate_problem(random.Random(f"t:{level}:{i}"), level)
        b = generate_problem(random.Random(f"t:{level}:{i}"), level)
        assert a == b
        assert len(a.steps) == LEVELS[level].steps == len(a.plan) == len(a.execution)
        # executing the plan by name reproduces every worked step and the answer
        assert evaluate_steps(a.steps) == int(a.answer) > 0
        for step in a.steps:
            x, op, y, eq, z = step.execution.split()
            assert eq == "=" and int(z) == {"+": int(x) + int(y), "-": int(x) - int(y), "*": int(x) * int(y),
                                            "/": int(x) // int(y)}[op]  # fmt: skip
            if op == "/":
                assert int(x) % int(y) == 0
        # the numbers the execution starts from are stated in the question
        stated = set(re.findall(r"\d+", a.question))
        assert set(a.execution[0].split()[::2][:2]) <= stated


def test_levels_grow_in_steps_and_numbers() -> None:
    rng = random.Random(0)
    means = []
    for level in sorted(LEVELS):
        problems = [generate_problem(rng, level) for _ in range(200)]
        means.append(sum(int(p.answer) for p in problems) / len(problems))
    assert means[-1] > means[0]
    assert [LEVELS[lv].steps for lv in sorted(LEVELS)] == sorted(LEVELS[lv].steps for lv in LEVELS)


def test_plans_name_intermediate_quantities() -> None:
    """Later sub-goals refer to earlier ones by name (the bookkeeping only the plan makes explicit)."""
    p = generate_problem(random.Random(3), 3)
    labels = [s.label for s in p.steps]
    assert all(" = " in g for g in p.plan)
    assert any(label in p.plan[-1].split(" = ", 1)[1] for label in labels[:-1])
    assert not any(ch.isdigit() for g in p.plan for ch in g.split(" = ", 1)[1])  # no numbers in plans


def test_corpus_documents() -> None:
    spec = CorpusSpec(source="arithmetic", params={"n_problems": 300, "levels": [1, 2]})
    c1, c2 = build_corpus(spec), build_corpus(spec)
    docs = c1.train + c1.val + c1.test
    assert [d.text for d in docs] == [d.text for d in c2.train + c2.val + c2.test]
    assert len(docs) == 300 and c1.test
    for d in docs:
        m = d.meta
        assert set(m) >= META_KEYS and m["level"] in (1, 2)
        assert d.text == format_prompt(m["question"]) + plan_completion(
            m["plan"], m["execution"], m["answer"]
        )
        assert m["solution"].endswith(f"#### {m['answer']}")
        assert solution_completion(m["execution"], m["answer"]) == "Solution: " + m["solution"]
    # a smaller corpus is a prefix of a larger one
    small = build_corpus(CorpusSpec(source="arithmetic", params={"n_problems": 100, "levels": [1, 2]}))
    by_id = {d.id: d.text for d in docs}
    assert all(by_id[d.id] == d.text for d in small.train + small.val + small.test)


def test_bad_level_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="unknown level 9"):
        build_corpus(CorpusSpec(source="arithmetic", params={"levels": [9]}))


def test_parse_completion_round_trip() -> None:
    p = generate_problem(random.Random(1), 3)
    parsed = parse_completion(plan_completion(p.plan, p.execution, p.answer))
    assert (
        parsed.plan == tuple(p.plan) and parsed.execution == tuple(p.execution) and parsed.answer == p.answer
    )
    bare = parse_completion(solution_completion(p.execution, p.answer))
    assert bare.plan == () and bare.execution == tuple(p.execution)
    assert parse_completion(render_plan(["a", "b"])).plan == ("a", "b")
    assert parse_completion("Plan:\nfirst\n2) second\nSolution: 1 + 1 = 2").plan == ("first", "second")
    assert parse_completion("no answer here").answer is None


# -- GSM8K ------------------------------------------------------------------------------------------

SOLUTION = (
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n"
    "#### 72"
)


def test_gsm8k_steps_with_and_without_annotations() -> None:
    kept, gold = parse_gsm8k_steps(SOLUTION, "keep")
    assert gold == "72"
    assert kept == [
        "Natalia sold 48/2 = <<48/2=24>>24 clips in May.",
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.",
    ]
    stripped, _ = parse_gsm8k_steps(SOLUTION, "strip")
    assert stripped == [
        "Natalia sold 48/2 = 24 clips in May.",
        "Natalia sold 48+24 = 72 clips altogether in April and May.",
    ]
    assert strip_annotations("$<<12/60=0.2>>0.2 per minute") == "$0.2 per minute"
    with pytest.raises(ValueError, match="no '####'"):
        parse_gsm8k_steps("no marker")


def _write_gsm8k(path: Path, n: int, offset: int = 0) -> None:
    lines = [
        json.dumps(
            {
                "question": f"Q{i}: how many?",
                "answer": f"Step one {i} + 1 = <<{i}+1={i + 1}>>{i + 1}.\n#### {i + 1}",
            }
        )
        for i in range(offset, offset + n)
    ]
    path.write_text("\n".join(lines) + "\n")


def test_gsm8k_source_presplit(tmp_path: Path) -> None:
    _write_gsm8k(tmp_path / "train.jsonl", 40)
    _write_gsm8k(tmp_path / "test.jsonl", 5, offset=100)
    params = {
        "train": str(tmp_path / "train.jsonl"),
        "test": str(tmp_path / "test.jsonl"),
        "val_fraction": 0.2,
    }
    c = build_corpus(CorpusSpec(source="gsm8k-jsonl", params={**params, "annotations": "strip"}))
    assert len(c.test) == 5 and len(c.train) + len(c.val) == 40 and c.val
    d = c.test[0]
    assert set(d.meta) >= META_KEYS
    assert d.meta["answer"] == "101" and d.meta["level"] == 1
    assert d.meta["execution"] == ["Step one 100 + 1 = 101."] and "<<" not in d.meta["solution"]
    assert "<<" in d.meta["reference"]
    kept = build_corpus(CorpusSpec(source="gsm8k-jsonl", params={**params, "max_docs": 3}))
    assert len(kept.test) == 3 and "<<" in kept.test[0].meta["solution"]


def test_gsm8k_source_bad_record(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"question": "q", "answer": "no marker"}\n')
    from harness.errors import PlanevalError

    with pytest.raises(PlanevalError, match=r"bad\.jsonl:1"):
        build_corpus(CorpusSpec(source="gsm8k-jsonl", params={"path": str(tmp_path / "bad.jsonl")}))
    with pytest.raises(SpecError, match="exactly one"):
        build_corpus(CorpusSpec(source="gsm8k-jsonl", params={}))


def test_gsm8k_shared_data_slice() -> None:
    train = shared_file("gsm8k/train.jsonl")
    test = shared_file("gsm8k/test.jsonl")
    c = build_corpus(
        CorpusSpec(source="gsm8k-jsonl", params={"train": str(train), "test": str(test), "max_docs": 50})
    )
    assert len(c.test) == 50 and len(c.train) + len(c.val) == 50
    first = json.loads(train.read_text().split("\n", 1)[0])
    doc = next(d for d in c.train + c.val if d.id.endswith("train.jsonl:1"))
    assert doc.meta["question"] == first["question"] and doc.meta["answer"] == "72"
    assert doc.meta["plan"] == parse_gsm8k_steps(first["answer"], "keep")[0]


def test_export_as_gsm8k_jsonl(tmp_path: Path) -> None:
    """Exported problems read back through the GSM8K source with the same question, answer and steps."""
    from harness.corpus.arithmetic.__main__ import main

    out = tmp_path / "arith.jsonl"
    main([str(out), "--n-problems", "200", "--levels", "1", "2"])
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records and all(r["answer"].split("#### ")[1] for r in records)
    back = build_corpus(
        CorpusSpec(source="gsm8k-jsonl", params={"path": str(out)}, val_fraction=0.0, test_fraction=0.0)
    )
    original = build_corpus(CorpusSpec(source="arithmetic", params={"n_problems": 200, "levels": [1, 2]}))
    docs = back.train
    assert [d.meta["question"] for d in docs] == [d.meta["question"] for d in original.test]
    assert [d.meta["execution"] for d in docs] == [d.meta["execution"] for d in original.test]
    assert [d.meta["answer"] for d in docs] == [d.meta["answer"] for d in original.test]
