"""Answer extraction + equivalence throughput against the references, on the real test sets.

* GSM8K: every test reference solution (1319) as a model output, scored by lm-eval's gsm8k pipeline
  (``RegexFilter`` strict + flexible, ``exact_match`` with the task's options) vs ``score_gsm8k``
  (the same two reference extractors plus ``boxed`` and ours).
* MATH: every test solution (5000) as a model output, scored by Hendrycks' reference (lm-eval's
  ``last_boxed_only_string`` + ``is_equiv``) vs ``score_math`` (three extractors, ``best``, the
  reference check and the full equivalence; all strings match here, so sympy is never asked).
* Symbolic: the path that needs sympy, on 200 non-numeric MATH golds each checked against itself:
  math-verify in-process on the main thread (what lm-eval's minerva_math does, SIGALRM limits) vs our
  worker processes (time limits that work from any thread; ``PLANEVAL_VERIFY_WORKERS`` workers).

* Figures, not timed: hand-written GSM8K outputs read right by lm-eval's strict / flexible filters and by
  ours, every GSM8K reference solution scored, and the MATH equivalence table (ours vs math-verify vs
  Hendrycks; per category: ``python -m harness.text.answers.agreement``).

Ratios are time ours / time reference on the fastest round. Run:
``.venv/bin/pytest benchmarks/bench_extraction.py --benchmark-enable -q``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lm_eval.api.metrics import exact_match_hf_evaluate
from lm_eval.filters.extraction import RegexFilter
from lm_eval.tasks.hendrycks_math import utils as hendrycks_ref

from harness.text.answers.equivalence import MathEquivalence, string_verdict
from harness.text.answers.math_answers import math_gold, normalize
from harness.text.answers.numbers import LM_EVAL_FLEXIBLE, LM_EVAL_IGNORE, LM_EVAL_STRICT
from harness.text.answers.symbolic import SymbolicChecker
from tasks.gsm8k import score_gsm8k
from tasks.math_common import MathItem
from tasks.math_task import score_math, verify_workers

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
N_SYMBOLIC = 200
_TIMES: dict[str, float] = {}


def _rows(rel: str) -> list[dict]:
    path = DATA / rel
    if not path.exists():
        pytest.skip(f"shared test data file {path} is absent")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _ratio_line(name: str, n: int, unit: str, ours: float, ref_key: str, ref_label: str) -> str:
    line = f"ours {n / ours:,.0f} {unit}/s"
    if ref_key in _TIMES:
        ref = _TIMES[ref_key]
        line += f"; {ref_label} {n / ref:,.0f} {unit}/s; time ours/reference = {ours / ref:.2f}"
    return line


# -- GSM8K ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gsm8k() -> list[dict]:
    return _rows("gsm8k/test.jsonl")


@pytest.mark.benchmark(group="gsm8k scoring")
def test_gsm8k_lm_eval_reference(benchmark, gsm8k: list[dict]) -> None:
    strict = RegexFilter(regex_pattern=LM_EVAL_STRICT, group_select=0)
    flexible = RegexFilter(regex_pattern=LM_EVAL_FLEXIBLE, group_select=-1)
    options = {"regexes_to_ignore": list(LM_EVAL_IGNORE), "ignore_case": True, "ignore_punctuation": False}

    def run() -> float:
        outs = [[r["answer"]] for r in gsm8k]
        golds = [r["answer"] for r in gsm8k]
        total = 0.0
        for f in (strict, flexible):
            picked = [p[0] for p in f.apply(outs, [{}] * len(outs))]
            total += sum(
                exact_match_hf_evaluate(predictions=[p], references=[g], **options)["exact_match"]
                for p, g in zip(picked, golds, strict=True)
            )
        return total

    total = benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    assert total == 2 * len(gsm8k)  # every reference solution scores under both filters
    _TIMES["gsm8k_ref"] = benchmark.stats.stats.min


@pytest.mark.benchmark(group="gsm8k scoring")
def test_gsm8k_ours(benchmark, gsm8k: list[dict], record_figure) -> None:
    def run() -> int:
        return sum(
            score_gsm8k(r["answer"], r["answer"].rsplit("####", 1)[1].strip())["correct"] for r in gsm8k
        )

    assert benchmark.pedantic(run, rounds=3, warmup_rounds=1) == len(gsm8k)
    line = _ratio_line("gsm8k", len(gsm8k), "outputs", benchmark.stats.stats.min, "gsm8k_ref", "lm-eval")
    record_figure("gsm8k scoring (4 extractors vs lm-eval's 2)", line)


# -- MATH ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def math_rows() -> list[dict]:
    return _rows("math/math_test_full.jsonl")


@pytest.mark.benchmark(group="math scoring")
def test_math_hendrycks_reference(benchmark, math_rows: list[dict]) -> None:
    def run() -> int:
        hits = 0
        for r in math_rows:
            gold = hendrycks_ref.remove_boxed(hendrycks_ref.last_boxed_only_string(r["solution"]))
            pred = hendrycks_ref.remove_boxed(hendrycks_ref.last_boxed_only_string(r["solution"]))
            hits += hendrycks_ref.is_equiv(pred, gold)
        return hits

    assert benchmark.pedantic(run, rounds=3, warmup_rounds=1) == len(math_rows)
    _TIMES["math_ref"] = benchmark.stats.stats.min


@pytest.mark.benchmark(group="math scoring")
def test_math_ours(benchmark, math_rows: list[dict], record_figure) -> None:
    judge = MathEquivalence(symbolic=True)

    def run() -> int:
        string_verdict.cache_clear()  # every round starts cold: no answer seen before
        normalize.cache_clear()
        items = [MathItem(str(i), r["problem"], math_gold(r["solution"])) for i, r in enumerate(math_rows)]
        rows = score_math(items, [r["solution"] for r in math_rows], judge)
        assert all(row["correct_hendrycks"] for row in rows)
        return sum(row["correct"] for row in rows)

    assert benchmark.pedantic(run, rounds=3, warmup_rounds=1) == len(math_rows)
    line = _ratio_line("math", len(math_rows), "outputs", benchmark.stats.stats.min, "math_ref", "Hendrycks")
    record_figure("math scoring (gold extraction + 4 extractors + equivalence vs Hendrycks)", line)


# -- the symbolic path -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def symbolic_pairs(math_rows: list[dict]) -> list[tuple[str, str]]:
    golds = []
    for r in math_rows:
        g = math_gold(r["solution"])
        if any(c.isalpha() or c == "\\" for c in g) and g not in golds:
            golds.append(g)
    return [(g, g) for g in golds[:N_SYMBOLIC]]


@pytest.mark.benchmark(group="symbolic equivalence")
def test_symbolic_in_process_reference(benchmark, symbolic_pairs: list[tuple[str, str]]) -> None:
    from math_verify import parse, verify

    def run() -> int:
        return sum(bool(verify(parse(f"${g}$"), parse(f"${p}$"))) for g, p in symbolic_pairs)

    _TIMES["symbolic_ref_hits"] = benchmark.pedantic(run, rounds=2, warmup_rounds=1)
    _TIMES["symbolic_ref"] = benchmark.stats.stats.min


@pytest.mark.benchmark(group="symbolic equivalence")
def test_symbolic_worker_processes(benchmark, symbolic_pairs: list[tuple[str, str]], record_figure) -> None:
    checker = SymbolicChecker(timeout_s=5, workers=verify_workers())
    try:
        checker.check(symbolic_pairs[:2])  # start the workers outside the timed rounds
        hits = benchmark.pedantic(lambda: sum(bool(v) for v in checker.check(symbolic_pairs)), rounds=2)
    finally:
        checker.close()
    if "symbolic_ref_hits" in _TIMES:
        assert hits == _TIMES["symbolic_ref_hits"]  # the same verdicts as in-process math-verify
    n = len(symbolic_pairs)
    line = _ratio_line("symbolic", n, "pairs", benchmark.stats.stats.min, "symbolic_ref", "in-process")
    record_figure(f"symbolic equivalence ({checker.n_workers} workers, {hits}/{n} equal)", line)


# -- agreement figures (no timing) -----------------------------------------------------------------

#: hand-written GSM8K-style outputs and the value a reader takes as the answer
HAND_READ = [
    ("#### 18", "18"),
    ("#### 1,234.", "1234"),
    ("#### $18", "18"),
    ("#### -3", "-3"),
    ("#### - 3", "-3"),
    ("#### 18.00", "18"),
    ("#### .5", "0.5"),
    ("#### 14 000", "14000"),
    ("so the total is 72.\n#### 72", "72"),
    ("#### 40\nno, #### 42", "42"),
    ("The answer is \\boxed{42}$. I hope it is correct.", "42"),
    ("It costs $1,200.50 in total", "1200.50"),
    ("12, 13, 14.", "14"),
    ("-7", "-7"),
    ("The answer is 6", "6"),
    ("The probability is 3/4.", "3/4"),
    ("The probability is 3/4", "3/4"),
    ("#### 3/4.", "3/4"),
    ("It is 3/4, so", "3/4"),
    ("He walks 4 2/3 miles.", "14/3"),
    ("Answer: 10,\\!080", "10080"),
    ("#### 2\\frac{1}{2}", "5/2"),
]


def test_extraction_agreement_figures(record_figure) -> None:
    """Ours vs lm-eval's strict and flexible filters: on the hand-written outputs above (read as a reader
    does, scored by value), and on every GSM8K test reference solution as an output (scored by each
    extractor's own metric). Printed, not timed."""
    from fractions import Fraction

    from harness.text.answers.numbers import extract_best, extract_flexible, extract_strict, parse_number

    def value(s: str) -> Fraction | None:
        try:
            return parse_number(s)
        except (ValueError, ZeroDivisionError):
            return None

    hits = {"strict": 0, "flexible": 0, "ours": 0}
    for output, read in HAND_READ:
        want = Fraction(read)
        hits["strict"] += value(extract_strict(output)) == want
        hits["flexible"] += value(extract_flexible(output)) == want
        hits["ours"] += extract_best(output)[0] == want
    n = len(HAND_READ)
    record_figure(
        "gsm8k hand-written outputs read right (by value)",
        ", ".join(f"{k} {v}/{n}" for k, v in hits.items()),
    )
    try:
        rows = _rows("gsm8k/test.jsonl")
    except pytest.skip.Exception:
        return
    ref = {"strict": 0, "flexible": 0, "ours": 0}
    for r in rows:
        scores = score_gsm8k(r["answer"], r["answer"].rsplit("####", 1)[1].strip())
        ref["strict"] += scores["correct_strict"]
        ref["flexible"] += scores["correct_flexible"]
        ref["ours"] += scores["correct"]
    record_figure(
        "gsm8k reference solutions scored right",
        ", ".join(f"{k} {v}/{len(rows)}" for k, v in ref.items()),
    )


def test_equivalence_table_figures(record_figure) -> None:
    """The MATH equivalence table (tests/data/math_equivalence_pairs.tsv): errors per checker."""
    from harness.text.answers.agreement import DEFAULT_TABLE, judge_all, load_pairs, render, tally

    path = DATA / "math" / "math_test_full.jsonl"
    if not path.exists():
        pytest.skip(f"shared test data file {path} is absent")
    pairs = load_pairs(DEFAULT_TABLE, path)
    tallies = tally(pairs, judge_all(pairs, workers=verify_workers()))
    total = tallies["all"]
    record_figure(
        f"math equivalence table ({len(pairs)} pairs), errors = false accepts + false rejects",
        "; ".join(f"{c} {t.errors} ({t.false_accepts} + {t.false_rejects})" for c, t in total.items()),
    )
    print("\n" + render(tallies))
