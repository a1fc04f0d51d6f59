"""Is a predicted MATH answer equivalent to the gold? String checks first, sympy only when needed.
Definitions: docs/tasks/math.md.

Order, cheapest first:
1. ``hendrycks`` — Hendrycks' ``is_equiv`` (the reference; "yes" only);
2. ``normalized`` — equal after ``math_answers.normalize`` (units, separators, delimiters, …; "yes" only);
3. ``shape`` — a matrix is never a tuple, a tuple never a set, an ordered tuple never an unordered list:
   when the two answers have different shapes the verdict is "no", and final (math-verify reads
   ``(1,2)`` and ``\\{1,2\\}`` as equal);
4. ``text`` — an answer in words (``\\text{Evelyn}``, ``June 20``) is compared as text, case and spacing
   aside; final (math-verify reads a word as a product of one-letter symbols, so any anagram passes);
5. ``choice`` — a multiple-choice letter (``(C)``, ``\\text{C}``) is compared as a letter; final;
6. ``numeric`` — both answers are plain numbers whose reading is certain (``0.5``, ``\\frac{1}{2}``,
   ``1/2``, a mixed ``2\\frac{1}{4}``, ``10,\\!080``): exact comparison of the values, final;
   ``numbers.exact_number`` gives no value where the reading is not certain, and then sympy decides;
7. ``symbolic`` — math-verify on the ``$…$``-wrapped cleaned answers, in worker processes with a time
   limit (``harness.text.answers.symbolic``); ``timeout`` when it overran (counted as not equivalent).

``lists`` (from the problem text: "separated by commas", "enter all …") says that a bare ``70,110`` is
a list of two numbers, not seventy thousand one hundred and ten.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from harness.text.answers.hendrycks import is_equiv
from harness.text.answers.math_answers import MERIDIEM, clean_answer, normalize
from harness.text.answers.numbers import exact_number
from harness.text.answers.symbolic import SymbolicChecker, shared_checker

#: the problem asks for a list of answers (then ``70,110`` is two numbers)
_LIST_PROMPT = re.compile(
    r"(?i)separated by commas|comma[- ]separated|(?:separate|separating)\b[^.]{0,40}\bcommas?\b"
    r"|\benter all\b|\blist (?:all|them|each|the)\b|\ball (?:the )?(?:possible |real |complex )?"
    r"(?:solutions|values|roots|integers|numbers)\b"
)


def asks_for_list(problem: str | None) -> bool | None:
    """Whether the problem asks for a list of answers; ``None`` when the problem is not known."""
    if problem is None:
        return None
    return bool(_LIST_PROMPT.search(problem))


@dataclass(frozen=True)
class Verdict:
    correct: bool
    #: hendrycks | normalized | text | choice | numeric | symbolic when correct; "", shape, text,
    #: choice, timeout or "no answer" when not
    how: str


# -- shapes ------------------------------------------------------------------------------------------

_MATRIX = re.compile(r"^\(?\s*\\begin\{(?:[pbBvV]?matrix|array)\}")
_OPEN, _CLOSE = "([{", ")]}"


def _strip_sizing(s: str) -> str:
    s = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])", "", s)
    return s.strip()


def _top_level_commas(s: str) -> int:
    depth, n, i = 0, 0, 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif ch == "," and depth == 0:
            n += 1
        i += 1
    return n


def _one_group(s: str, open_len: int, close_len: int) -> bool:
    """Whether the bracket at the start closes only at the very end (``(1,2)``, not ``(1,2)\\cup(3,4)``)."""
    inner = s[open_len : len(s) - close_len]
    depth = 0
    i = 0
    while i < len(inner):
        if inner.startswith("\\{", i) or inner.startswith("\\}", i):
            depth += 1 if inner[i + 1] == "{" else -1
            i += 2
            continue
        ch = inner[i]
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


def shape(answer: str) -> str:
    """``matrix``, ``set`` (``\\{…\\}``), ``tuple`` (a bracketed group with commas: a point, a vector or an
    interval), ``list`` (commas at the top level) or ``other``."""
    s = _strip_sizing(answer)
    if _MATRIX.match(s):
        return "matrix"
    if s.startswith("\\{") and s.endswith("\\}") and _one_group(s, 2, 2):
        return "set"
    if s[:1] in "([" and s[-1:] in ")]" and _one_group(s, 1, 1) and _top_level_commas(s[1:-1]) > 0:
        return "tuple"
    if _top_level_commas(s) > 0:
        return "list"
    return "other"


def shapes_differ(a: str, b: str) -> bool:
    """Shapes that never denote the same answer: a matrix and a tuple, set or list; a tuple and a set or
    a list (order matters in one and not the other). Lists and sets are both unordered collections;
    anything of shape ``other`` (a number, an expression, a union of intervals) is left to the
    other checks."""
    sa, sb = shape(a), shape(b)
    if sa == sb or "other" in (sa, sb):
        return False
    return {sa, sb} != {"list", "set"}


# -- words and choices -------------------------------------------------------------------------------

_TEXT_CMD = re.compile(r"\\(?:text|mbox|mathrm|textrm|textbf|textnormal|textit)\s*\{([^{}]*)\}")
#: a run of three letters that is not a LaTeX command or a function name marks an answer in words
_WORD = re.compile(
    r"(?<![\\A-Za-z])(?!(?:sin|cos|tan|cot|sec|csc|log|exp|sqrt|frac|det|max|min|gcd|lcm|mod|arc\w*|"
    r"sinh|cosh|tanh|deg|inf)(?![A-Za-z]))[A-Za-z]{3,}"
)
_CHOICE = re.compile(r"^\(?\s*([A-Z])\s*\)?$")


def _plain_text(answer: str) -> str:
    s = _TEXT_CMD.sub(lambda m: m[1], answer)
    return re.sub(r"[\s~]+", "", s).strip(".").lower()


_ENVIRONMENT = re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}")


def is_text(answer: str) -> bool:
    """An answer in words: a word of three or more letters outside any LaTeX command."""
    s = _ENVIRONMENT.sub(" ", answer)
    return bool(_WORD.search(_TEXT_CMD.sub(lambda m: f" {m[1]} ", s)))


def choice(answer: str) -> str | None:
    m = _CHOICE.match(_TEXT_CMD.sub(lambda m: m[1], answer).strip())
    return m[1] if m else None


_UNIT_GROUP = re.compile(r"\\text\{ [A-Za-z .]*\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?\s*$")


def _drops_content(answer: str) -> bool:
    """Whether Hendrycks' ``strip_string`` would cut away more than a unit: it drops everything after
    ``\\text{ ``, so ``19 \\text{ and }43`` would become ``19``."""
    if "\\text{ " not in answer:
        return False
    tail = "\\text{ " + answer.split("\\text{ ", 1)[1]
    return _UNIT_GROUP.fullmatch(tail) is None


_DEGREES = re.compile(r"\\circ|°|(?<![A-Za-z])degrees?(?![A-Za-z])")
_RADIANS = re.compile(r"(?<![A-Za-z])radians?(?![A-Za-z])")


def _units_clash(pred: str, gold: str) -> bool:
    """Units that are dropped before comparing but change the meaning when they differ: a.m. and
    p.m., degrees and radians."""
    mp, mg = MERIDIEM.search(pred), MERIDIEM.search(gold)
    if mp and mg and mp[1].lower() != mg[1].lower():
        return True

    def angle(s: str) -> str | None:
        return "rad" if _RADIANS.search(s) else "deg" if _DEGREES.search(s) else None

    ap, ag = angle(pred), angle(gold)
    return ap is not None and ag is not None and ap != ag


# -- the checks --------------------------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def string_verdict(pred: str, gold: str, lists: bool | None = None) -> tuple[Verdict | None, bool]:
    """The verdict of the checks before sympy, or ``None`` when only sympy can tell; and whether that
    verdict is final (a "no" that sympy must not overturn). Cached: the extractors of one output often
    agree, and a gold is compared with each of them."""
    if _units_clash(pred, gold):
        return Verdict(False, "shape"), True
    p, g = clean_answer(pred, lists), clean_answer(gold, lists)
    if is_equiv(pred, gold) and not (_drops_content(pred) or _drops_content(gold)):
        return Verdict(True, "hendrycks"), True
    if normalize(pred, lists) == normalize(gold, lists) and not (_drops_content(p) or _drops_content(g)):
        return Verdict(True, "normalized"), True
    if shapes_differ(p, g):
        return Verdict(False, "shape"), True
    if is_text(p) or is_text(g):
        same = _plain_text(p) == _plain_text(g)
        return Verdict(same, "text"), True
    cp, cg = choice(p), choice(g)
    if cp is not None and cg is not None:
        return Verdict(cp == cg, "choice"), True
    pv, gv = exact_number(p, lists), exact_number(g, lists)
    if pv is not None and gv is not None:
        return Verdict(pv == gv, "numeric" if pv == gv else ""), True
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

    def judge(
        self, pairs: Sequence[tuple[str | None, str]], problems: Sequence[str | None] | None = None
    ) -> list[Verdict]:
        """One verdict per pair; ``problems`` (one per pair, or ``None``) lets a bare ``70,110`` be read
        as the list it is when the problem asks for a list."""
        if problems is not None and len(problems) != len(pairs):
            raise ValueError(f"{len(problems)} problems for {len(pairs)} pairs")
        out: list[Verdict | None] = []
        pending: dict[tuple[str, str], list[int]] = {}
        for i, (pred, gold) in enumerate(pairs):
            if pred is None or not pred.strip():
                out.append(Verdict(False, "no answer"))
                continue
            lists = asks_for_list(problems[i]) if problems is not None else None
            verdict, final = string_verdict(pred, gold, lists)
            if verdict is not None and (verdict.correct or final):
                out.append(verdict)
            elif not self.symbolic:
                out.append(Verdict(False, ""))
            else:
                out.append(None)
                pending.setdefault((clean_answer(gold, lists), clean_answer(pred, lists)), []).append(i)
        if pending:
            keys = list(pending)
            for key, ok in zip(keys, self.checker.check(keys), strict=True):
                verdict = Verdict(bool(ok), "symbolic" if ok else ("timeout" if ok is None else ""))
                for i in pending[key]:
                    out[i] = verdict
        return [v for v in out if v is not None]

    def equivalent(self, pred: str | None, gold: str, problem: str | None = None) -> bool:
        return self.judge([(pred, gold)], None if problem is None else [problem])[0].correct
