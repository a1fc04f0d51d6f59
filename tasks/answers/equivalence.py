"""Is a predicted MATH answer equivalent to the gold? String checks first, sympy only when needed.

Order, cheapest first, each able only to turn "no" into "yes":
1. ``hendrycks`` — Hendrycks' ``is_equiv`` (the reference: never accepts a wrong answer);
2. ``normalized`` — equal after ``math_answers.normalize`` (units, separators, delimiters, …);
3. ``numeric`` — both are plain numbers (``0.5``, ``\\frac{1}{2}``, ``1/2``) with the same exact value;
   when both are plain numbers this decides, and sympy is not asked;
4. ``symbolic`` — math-verify on the ``$…$``-wrapped answers, in worker processes with a time limit
   (``tasks.answers.symbolic``); ``timeout`` when it overran (counted as not equivalent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from tasks.answers.hendrycks import is_equiv
from tasks.answers.math_answers import clean_answer, normalize
from tasks.answers.numbers import exact_number
from tasks.answers.symbolic import SymbolicChecker, shared_checker


@dataclass(frozen=True)
class Verdict:
    correct: bool
    how: str  # hendrycks | normalized | numeric | symbolic when correct; "", timeout or no answer if not


@lru_cache(maxsize=1 << 16)
def string_verdict(pred: str, gold: str) -> tuple[Verdict | None, bool]:
    """The verdict of the string and numeric checks, or ``None`` when only sympy can tell; and
    whether both sides are plain numbers (then the numeric check is final). Cached: the extractors
    of one output often agree, and a gold is compared with each of them."""
    if is_equiv(pred, gold):
        return Verdict(True, "hendrycks"), False
    if normalize(pred) == normalize(gold):
        return Verdict(True, "normalized"), False
    p, g = exact_number(clean_answer(pred)), exact_number(clean_answer(gold))
    if p is not None and g is not None:
        return Verdict(p == g, "numeric" if p == g else ""), True
    return None, False


class MathEquivalence:
    """Judges batches of ``(prediction or None, gold)`` pairs; symbolic checks are batched, deduplicated
    and run in the shared worker pool (or ``checker``)."""

    def __init__(
        self,
        symbolic: bool = True,
        timeout_s: float = 5.0,
        workers: int = 1,
        checker: SymbolicChecker | None = None,
    ):
        self.symbolic = symbolic
        self.timeout_s = timeout_s
        self.workers = workers
        self._checker = checker

    @property
    def checker(self) -> SymbolicChecker:
        if self._checker is None:
            self._checker = shared_checker(self.timeout_s, self.workers)
        return self._checker

    def judge(self, pairs: Sequence[tuple[str | None, str]]) -> list[Verdict]:
        out: list[Verdict | None] = []
        pending: dict[tuple[str, str], list[int]] = {}
        for i, (pred, gold) in enumerate(pairs):
            if pred is None or not pred.strip():
                out.append(Verdict(False, "no answer"))
                continue
            verdict, decided = string_verdict(pred, gold)
            if verdict is not None and (verdict.correct or decided):
                out.append(verdict)
            elif not self.symbolic:
                out.append(Verdict(False, ""))
            else:
                out.append(None)
                pending.setdefault((clean_answer(gold), clean_answer(pred)), []).append(i)
        if pending:
            keys = list(pending)
            for key, ok in zip(keys, self.checker.check(keys), strict=True):
                verdict = Verdict(bool(ok), "symbolic" if ok else ("timeout" if ok is None else ""))
                for i in pending[key]:
                    out[i] = verdict
        return [v for v in out if v is not None]

    def equivalent(self, pred: str | None, gold: str) -> bool:
        return self.judge([(pred, gold)])[0].correct
