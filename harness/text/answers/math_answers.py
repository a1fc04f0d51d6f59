"""MATH answers: where a model states its final answer, and how answers are normalised.

Extractors (each returns the answer string and where it starts, so ``best`` can take the one stated
last): ``boxed`` — the last ``\\boxed{…}``/``\\fbox{…}``, brace-matched; ``minerva`` — "Final Answer:
The final answer is X. I hope it is correct." (Lewkowycz et al. 2022), also without the closing
sentence; ``hash`` — the text after the last ``#### `` (the format planeval's math trainers teach).

``normalize`` is Hendrycks' ``strip_string`` applied after ``clean_answer``, which fixes what the
reference misses: math delimiters and a box around the whole answer, a trailing period, thousands
separators (``10,\\!080``, ``11,\\! 111``, ``{,}``, ``10\\,000``) without touching a ``\\\\`` row break,
units after a number (``5 dollars``, ``5\\text{ cm}^2``), degrees, percent and dollar signs, and
``\\text{(C)}`` → ``(C)``. Definitions: docs/tasks/math.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from harness.text.answers.hendrycks import strip_string
from harness.text.answers.latex import fold_spacing, last_boxed_with_position, strip_math_delimiters
from harness.text.answers.numbers import exact_number

# -- extraction --------------------------------------------------------------------------------------

_MINERVA = re.compile(
    r"Final Answer:\s*The final answer is[ \t]*(?P<ans>.*?)[ \t]*"
    r"(?:\.?[ \t]*I hope it is correct|\.?[ \t]*$)",
    re.MULTILINE,
)
_HASH = re.compile(r"####[ \t]*(?P<ans>[^\n]*)")

Extracted = tuple[int, str]  # (start in the text, answer)


def _tidy(answer: str) -> str:
    answer = answer.strip().rstrip(".").strip()
    return strip_math_delimiters(answer).rstrip(".").strip()


def extract_boxed(text: str) -> Extracted | None:
    found = last_boxed_with_position(text)
    return (found[0], found[1].strip()) if found else None


def extract_minerva(text: str) -> Extracted | None:
    matches = [m for m in _MINERVA.finditer(text) if m["ans"].strip()]
    return (matches[-1].start(), _tidy(matches[-1]["ans"])) if matches else None


def extract_hash(text: str) -> Extracted | None:
    matches = [m for m in _HASH.finditer(text) if m["ans"].strip()]
    return (matches[-1].start(), _tidy(matches[-1]["ans"])) if matches else None


EXTRACTORS: dict[str, Callable[[str], Extracted | None]] = {
    "boxed": extract_boxed,
    "minerva": extract_minerva,
    "hash": extract_hash,
}


def extract_all(text: str) -> dict[str, Extracted | None]:
    """Every extractor's answer (``None`` where it finds none)."""
    return {name: fn(text) for name, fn in EXTRACTORS.items()}


def best_of(found: dict[str, Extracted | None]) -> tuple[str | None, str]:
    """The answer stated last among the extractors' answers, with the extractor's name."""
    hits = [(hit, name) for name, hit in found.items() if hit is not None]
    if not hits:
        return None, ""
    (_, answer), name = max(hits, key=lambda h: h[0][0])
    return answer, name


def extract_best(text: str) -> tuple[str | None, str]:
    """The answer stated last by any extractor, with the extractor's name; ``(None, "")`` if none.
    Last, because a model that corrects itself states the corrected answer after the first one."""
    return best_of(extract_all(text))


def math_gold(solution: str) -> str:
    """The gold answer of a MATH solution: its last ``\\boxed{}`` (brace-matched)."""
    found = extract_boxed(solution)
    if found is None:
        raise ValueError("solution has no complete \\boxed{} answer")
    return found[1]


# -- normalisation -------------------------------------------------------------------------------

#: unit words dropped after a number (Minerva's list plus common plurals); only after a number
UNIT_WORDS = (
    "square units|sq units|units?|dollars?|cents?|degrees?|mph|km|cm|mm|m|meters?|inches|inch|feet|foot"
    "|ft|miles?|yards?|hours?|minutes?|seconds?|days?|weeks?|years?|pounds?|ounces?|grams?|kg|gm|points?"
    "|ways|integers|digits|students|people|edges|meals|multiples|sides|games|cups|percent"
)
#: words after a number that are mathematics, not a unit: they are never dropped
_MATH_WORDS = (
    r"(?:pi|sqrt|sin|cos|tan|cot|sec|csc|log|exp|mod|inf|infinity|and|or|plus|minus|times|over|squared"
    r"|cubed|root|roots|percent|degrees?|radians?|factorial)\b"
)
_UNIT_TAIL = re.compile(
    r"^(?P<head>.*?)\s*(?:\\(?:text|mbox|mathrm|textrm|textnormal)\s*\{\s*(?P<tex>[^{}]*)\}"
    rf"|(?P<word>\b(?:{UNIT_WORDS})\b|\b(?!{_MATH_WORDS})[a-z]{{3,}}(?: (?!{_MATH_WORDS})[a-z]{{3,}})?))"
    r"\s*(?:\^\s*\{?\s*[23]\s*\}?)?\s*$"
)
#: a unit named in UNIT_WORDS is dropped after any answer (``\\frac34\\pi\\text{ inches}``), other words
#: only after a number
_KNOWN_UNIT = re.compile(rf"(?:square |sq |cubic )?(?:{UNIT_WORDS})")
#: ``19 \\text{ and }43`` is the list 19, 43 (Minerva's normalisation does the same)
_AND = re.compile(r"\s*,?\s*(?:\\(?:text|mbox)\s*\{\s*and\s*\}|(?<![\\A-Za-z])and(?![A-Za-z]))\s*")
#: a time of day after a number: dropped like a unit (equivalence.py first checks that a.m. is not p.m.)
MERIDIEM = re.compile(r"(?i)\s*(?:\\text\s*\{\s*)?(?<![A-Za-z])([ap])\.?\s?m\b\.?\s*\}?\s*$")
_WHOLE_TEXT = re.compile(r"^\\(?:text|mbox|mathrm|textrm|textbf|textnormal)\s*\{(?P<body>[^{}]*)\}$")
_BOX_WHOLE = re.compile(r"^\\(?:boxed|fbox)\s*\{(?P<body>.*)\}$", re.DOTALL)
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_REPLACE = (
    ("^{\\circ}", ""),
    ("^\\circ", ""),
    ("\\circ", ""),
    ("°", ""),
    ("\\%", ""),
    ("%", ""),
    ("\\$", ""),
    ("$", ""),
    ("\\displaystyle", ""),
)


def clean_answer(answer: str, lists: bool | None = None) -> str:
    """Clean-up that keeps the LaTeX intact (it is what the symbolic checker parses) and the meaning too
    (docs/tasks/math.md): math delimiters, a box around the whole answer and a trailing full stop go;
    spacing is folded by ``latex.fold_spacing`` (a ``\\\\`` row break stays, LaTeX thousands separators
    go); degrees, percent and dollar signs go; units after a number go; ``\\text{...}`` around the whole
    answer goes; ``\\text{ and }`` between answers becomes a comma. A bare ``15,600`` loses its commas
    unless ``lists`` says the problem asks for a list (``70,110`` = 70 and 110), where a space is put
    after each comma between digits so that the symbolic checker reads a list too."""
    s = _tidy(answer)
    while m := _BOX_WHOLE.match(s):
        s = _tidy(m["body"])
    s = fold_spacing(s)
    for before, after in _REPLACE:
        s = s.replace(before, after)
    s = s.strip()
    s = _AND.sub(", ", s).strip()
    if m := MERIDIEM.search(s):
        head = re.sub(r"^(\d{1,2}):00$", r"\1", s[: m.start()].strip())  # 9:00 a.m. is 9 a.m.
        if exact_number(head, lists) is not None or re.fullmatch(r"\d{1,2}:\d\d", head):
            s = head
    m = _UNIT_TAIL.match(s)
    if m and m["head"]:
        unit = (m["tex"] or m["word"] or "").strip()
        after_number = exact_number(m["head"], lists) is not None
        if (after_number and (unit == "" or re.fullmatch(r"[A-Za-z][A-Za-z .]*", unit))) or (
            _KNOWN_UNIT.fullmatch(unit) and not m["head"].rstrip().endswith(("=", "\\cdot", "\\times"))
        ):
            s = m["head"].strip()
    if m := _WHOLE_TEXT.match(s):
        s = m["body"].strip()
    if lists:
        s = re.sub(r"(?<=\d),(?=\d)", ", ", s)
    elif _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    return s.rstrip(".").strip()


@lru_cache(maxsize=1 << 16)
def normalize(answer: str, lists: bool | None = None) -> str:
    """``strip_string(clean_answer(answer, lists))``; when the reference normalisation raises, the
    cleaned answer without spaces."""
    cleaned = clean_answer(answer, lists)
    try:
        return strip_string(cleaned)
    except Exception:  # strip_string raises on some inputs (e.g. a bare trailing \sqrt)
        return cleaned.replace(" ", "")
