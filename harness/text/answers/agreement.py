"""Three MATH equivalence checkers on a table of (gold, prediction, expected) pairs, per category.

    python -m harness.text.answers.agreement [TABLE.tsv] [--math ../shared/data/math/math_test_full.jsonl]

The table (default ``tests/data/math_equivalence_pairs.tsv``) has the columns ``category``, ``idx`` (the
problem's ``idx`` in the full MATH test file: the gold is that problem's last ``\boxed{}``, read from
the file — no dataset text is committed — and its problem text is given to our checker, which reads
"separated by commas" as asking for a list), ``expected`` (1 equivalent, 0 not), ``form`` (1 where the
problem asks for a specific form — "as a mixed number", "as a common fraction" — and the prediction has
the right value in another form; such rows expect 0) and ``prediction``.

Checkers: ``ours`` (``equivalence.MathEquivalence``), ``math-verify`` (``parse`` + ``verify`` on the
``$…$``-wrapped raw strings, in the same worker processes) and ``hendrycks`` (``is_equiv``). An error is
a false accept (1 where 0 is expected) or a false reject. Definitions: docs/tasks/math.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.text.answers.equivalence import MathEquivalence
from harness.text.answers.hendrycks import is_equiv
from harness.text.answers.math_answers import math_gold
from harness.text.answers.symbolic import SymbolicChecker

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_TABLE = ROOT / "tests" / "data" / "math_equivalence_pairs.tsv"
DEFAULT_MATH = ROOT.parent / "shared" / "data" / "math" / "math_test_full.jsonl"
CHECKERS = ("ours", "math-verify", "hendrycks")


@dataclass(frozen=True)
class Pair:
    category: str
    idx: int
    expected: bool
    form: bool
    gold: str
    prediction: str
    problem: str


def load_pairs(table: Path = DEFAULT_TABLE, math_file: Path = DEFAULT_MATH) -> list[Pair]:
    """The table's rows with their problems and golds, read from the MATH file by ``idx`` (the table
    holds only our hand-written predictions: no dataset text is committed)."""
    problems: dict[int, tuple[str, str]] = {}
    with open(math_file, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                problems[int(row["idx"])] = (row["problem"], math_gold(row["solution"]))
    out = []
    with open(table, encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 2):
            idx = int(row["idx"])
            if idx not in problems:
                raise ValueError(f"{table}:{n}: no problem with idx {idx} in {math_file}")
            problem, gold = problems[idx]
            expected, form = row["expected"] == "1", row["form"] == "1"
            out.append(Pair(row["category"], idx, expected, form, gold, row["prediction"], problem))
    return out


def judge_all(pairs: Sequence[Pair], workers: int = 2, timeout_s: float = 5.0) -> dict[str, list[bool]]:
    """Each checker's verdict on every pair."""
    checker = SymbolicChecker(timeout_s=timeout_s, workers=workers)
    try:
        ours = MathEquivalence(checker=checker).judge(
            [(p.prediction, p.gold) for p in pairs], [p.problem for p in pairs]
        )
        mv = checker.check([(p.gold, p.prediction) for p in pairs])
    finally:
        checker.close()
    return {
        "ours": [v.correct for v in ours],
        "math-verify": [bool(v) for v in mv],
        "hendrycks": [is_equiv(p.prediction, p.gold) for p in pairs],
    }


@dataclass
class Tally:
    n: int = 0
    false_accepts: int = 0
    false_rejects: int = 0
    form_accepts: int = 0  # false accepts on rows where the problem asks for another form

    @property
    def errors(self) -> int:
        return self.false_accepts + self.false_rejects


def tally(pairs: Sequence[Pair], verdicts: dict[str, list[bool]]) -> dict[str, dict[str, Tally]]:
    """``{category or "all": {checker: Tally}}``."""
    out: dict[str, dict[str, Tally]] = defaultdict(lambda: {c: Tally() for c in CHECKERS})
    for i, p in enumerate(pairs):
        for cat in (p.category, "all"):
            for name in CHECKERS:
                t = out[cat][name]
                t.n += 1
                said = verdicts[name][i]
                if said and not p.expected:
                    t.false_accepts += 1
                    t.form_accepts += p.form
                elif p.expected and not said:
                    t.false_rejects += 1
    return dict(out)


def render(tallies: dict[str, dict[str, Tally]]) -> str:
    """A fixed-width table: per category, each checker's errors (false accepts + false rejects)."""
    head = f"{'category':16} {'pairs':>5}  " + "  ".join(f"{c:>20}" for c in CHECKERS)
    lines = [head, f"{'':16} {'':>5}  " + "  ".join(f"{'errors (FA + FR)':>20}" for _ in CHECKERS)]
    order = [*sorted(k for k in tallies if k != "all"), "all"]
    for cat in order:
        row = tallies[cat]
        cells = [f"{t.errors:>4} ({t.false_accepts:>3} + {t.false_rejects:>3})" for t in row.values()]
        lines.append(f"{cat:16} {row['ours'].n:>5}  " + "  ".join(f"{c:>20}" for c in cells))
    total = tallies["all"]
    lines.append(
        "false accepts on rows that ask for a specific form: "
        + ", ".join(f"{c} {total[c].form_accepts}" for c in CHECKERS)
    )
    return "\n".join(lines)


def disagreements(pairs: Sequence[Pair], verdicts: dict[str, list[bool]], checker: str = "ours") -> list[str]:
    """The rows ``checker`` gets wrong, one line each."""
    out = []
    for i, p in enumerate(pairs):
        if verdicts[checker][i] != p.expected:
            others = " ".join(f"{c}={int(verdicts[c][i])}" for c in CHECKERS)
            out.append(
                f"{p.category}\t{p.idx}\texpected={int(p.expected)} form={int(p.form)}\t{others}\t"
                f"{p.gold!r}\t{p.prediction!r}"
            )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m harness.text.answers.agreement", description=__doc__.split("\n")[0]
    )
    ap.add_argument("table", nargs="?", type=Path, default=DEFAULT_TABLE)
    ap.add_argument("--math", type=Path, default=DEFAULT_MATH, help="the full MATH test file (jsonl)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--show", choices=CHECKERS, help="also list the rows this checker gets wrong")
    args = ap.parse_args(argv)
    if not args.math.is_file():
        print(f"no MATH test file at {args.math}", file=sys.stderr)
        return 2
    pairs = load_pairs(args.table, args.math)
    verdicts = judge_all(pairs, workers=args.workers)
    print(render(tally(pairs, verdicts)))
    if args.show:
        print("\n".join(disagreements(pairs, verdicts, args.show)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
