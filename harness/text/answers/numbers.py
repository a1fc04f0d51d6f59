"""Numeric answers (GSM8K): lm-eval's reference filters, kept bit-compatible, and a better extractor.

Reference (``strict``, ``flexible``): lm-eval's gsm8k ``RegexFilter`` patterns and its ``exact_match``
with the task's ``regexes_to_ignore`` (``,`` ``$`` ``(?s).*#### `` trailing ``.``, case folded). Their
known misses (docs/tasks/math.md): strict takes the *first* ``####`` (a self-corrected answer scores the
retracted one); flexible takes the last number-like run, so trailing text wins (``\\boxed{42}$.`` gives
``$.``); both miss ``18.00``, ``.5``, ``14 000`` and ``- 10``.

Ours (``best``): the answer stated last — after ``#### ``, in ``\\boxed{}``, or after "answer is" /
"Final Answer:" — read as a number (thousands separators ``,`` / spaces / ``{,}`` / ``,\\!``, a sign
apart from its digits, ``$``, ``%``, units and trailing punctuation tolerated; ``\\frac{a}{b}`` and
``a/b`` as fractions, also before a full stop; ``4\\frac{2}{3}`` and ``4 2/3`` as mixed numbers),
compared by value (``18.00 == 18``); with no marker, the last number in the text. Definitions:
docs/tasks/math.md.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import NamedTuple

from harness.text.answers.latex import boxed_spans, fold_spacing

# -- lm-eval's reference ---------------------------------------------------------------------------

#: lm-eval 0.4 ``tasks/gsm8k/gsm8k.yaml`` filter ``strict-match`` (take_first)
LM_EVAL_STRICT = r"#### (\-?[0-9\.\,]+)"
#: lm-eval's ``flexible-extract`` (``group_select: -1``, take_first)
LM_EVAL_FLEXIBLE = r"(-?[$0-9.,]{2,})|(-?[0-9]+)"
#: the ``exact_match`` ``regexes_to_ignore`` of the gsm8k task, applied in this order to both sides
LM_EVAL_IGNORE = (",", r"\$", r"(?s).*#### ", r"\.$")
#: ``RegexFilter``'s fallback when nothing matches
INVALID = "[invalid]"


def regex_filter(text: str, pattern: str, group_select: int = 0, fallback: str = INVALID) -> str:
    """lm-eval's ``RegexFilter.apply`` on one response: ``findall``, pick ``group_select``, and of a
    tuple of groups the first non-empty one; stripped; ``fallback`` when nothing matches."""
    found = re.findall(pattern, text)
    if not found:
        return fallback
    match = found[group_select]
    if isinstance(match, tuple):
        groups = [m for m in match if m]
        match = groups[0] if groups else fallback
    return match.strip()


def lm_eval_normalise(s: str) -> str:
    """One side of lm-eval's gsm8k ``exact_match``: the ignore regexes in order, then lower case."""
    for pattern in LM_EVAL_IGNORE:
        s = re.sub(pattern, "", s)
    return s.lower()


def lm_eval_exact_match(pred: str, gold: str) -> bool:
    return lm_eval_normalise(pred) == lm_eval_normalise(gold)


def extract_strict(text: str) -> str:
    """lm-eval's ``strict-match``: the number after the FIRST ``#### `` (reference behaviour)."""
    return regex_filter(text, LM_EVAL_STRICT, 0)


def extract_flexible(text: str) -> str:
    """lm-eval's ``flexible-extract``: the last number-like run of ``[$0-9.,]`` (reference behaviour)."""
    return regex_filter(text, LM_EVAL_FLEXIBLE, -1)


# -- numbers ---------------------------------------------------------------------------------------

_CLEAN = (
    ("\\$", "$"),
    ("\\%", "%"),
    ("\u2009", " "),
    ("\u202f", " "),
    ("\u00a0", " "),
    ("\u2212", "-"),  # unicode minus
    ("\u2013", "-"),  # en dash used as a minus
)
#: ``\frac{a}{b}``, ``\dfrac``, ``\tfrac`` and the shorthand ``\frac12`` with integer parts; a digit
#: right before it makes a mixed number (``4\frac{2}{3}`` is 4 2/3, never 42/3)
_FRAC = re.compile(
    r"(?P<whole>\d\s*)?\\[dt]?frac\s*(?:\{\s*(?P<num>-?\d+)\s*\}\s*\{\s*(?P<den>\d+)\s*\}|(?P<n1>\d)(?P<d1>\d))"
)
_EQUALS_TAIL = re.compile(r"=(?![^=]*=)")


def _number_pattern(space_groups: bool, loose_sign: bool) -> re.Pattern[str]:
    """One number: sign, ``$``, digits (thousands-grouped or not, decimals), an optional ``/den`` and, in
    front, an optional whole part of a mixed number (``4 2/3``; checked to be proper in ``_value``). A
    denominator may be followed by a full stop or any other punctuation (``3/4.`` is 3/4), not by more
    digits or a decimal part."""
    sign = r"(?P<sign>-\s?)?" if loose_sign else r"(?P<sign>-)?"
    groups = r"\d{1,3}(?:,\d{3})+" + (r"|\d{1,3}(?: \d{3})+" if space_groups else "")
    whole = r"(?:(?P<whole>\d+) (?=\d+ ?/ ?\d))?"
    body = rf"(?P<body>(?:{groups}|\d+)(?:\.\d+)?|\.\d+)"
    den = r"(?: ?/ ?(?P<den>\d+)(?!\d|\.\d))?"
    return re.compile(rf"(?<![\w.]){sign}(?:\$\s?)?{whole}{body}{den}(?!\d)")


_SPAN_NUMBER = _number_pattern(space_groups=True, loose_sign=True)
_TEXT_NUMBER = _number_pattern(space_groups=False, loose_sign=False)


class Found(NamedTuple):
    value: Fraction
    start: int  # where the number starts in the cleaned text


def _fraction(m: re.Match[str]) -> str:
    num, den = (m["num"], m["den"]) if m["num"] is not None else (m["n1"], m["d1"])
    whole = m["whole"]
    return f"{whole.strip()} {num}/{den}" if whole else f"{num}/{den}"


def clean(text: str) -> str:
    """LaTeX spacing and separators folded without changing the value (``latex.fold_spacing``: thousands
    separators go, a row break stays), ``\\frac{a}{b}`` → ``a/b`` and a mixed ``4\\frac{2}{3}`` →
    ``4 2/3``."""
    text = fold_spacing(text)
    for before, after in _CLEAN:
        text = text.replace(before, after)
    return _FRAC.sub(_fraction, text)


def _value(m: re.Match[str]) -> Fraction | None:
    body = m["body"].replace(",", "").replace(" ", "")
    value = Fraction(body)
    if m["den"] is not None:
        den = int(m["den"])
        if den == 0:
            return None
        value /= den
    if m["whole"] is not None:
        if m["den"] is None or "." in body or value >= 1:
            return None  # "2 5/3" is no mixed number: not a value we can read
        value += int(m["whole"])
    return -value if m["sign"] else value


def numbers_in(text: str, *, span: bool) -> list[Found]:
    """Every number in ``text`` (already ``clean``ed). ``span=True`` (text after an answer marker) also
    reads space-grouped thousands and a sign apart from its digits; free text does not, since
    ``20 - 10`` or ``3 000 of 5 000`` would be misread."""
    pattern = _SPAN_NUMBER if span else _TEXT_NUMBER
    out = []
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        v = _value(m)
        if v is None and m["whole"] is not None:  # "2 5/3": not a mixed number, so two numbers
            whole = int(m["whole"])
            out.append(Found(-Fraction(whole) if m["sign"] else Fraction(whole), m.start()))
            pos = m.start("body")
            continue
        if v is not None:
            out.append(Found(v, m.start()))
        pos = max(m.end(), pos + 1)
    return out


def parse_number(s: str) -> Fraction | None:
    """The value of an answer span (a gold answer, the text after ``####``, a box's content): its
    first number, or the first number after the last ``=`` when it is an equation."""
    s = clean(s)
    tail = _EQUALS_TAIL.split(s)
    if len(tail) == 2 and numbers_in(tail[1], span=True):
        s = tail[1]
    found = numbers_in(s, span=True)
    return found[0].value if found else None


def format_number(v: Fraction | None) -> str:
    """A canonical string: ``18``, ``-0.5``, ``1/3`` (non-terminating), ``""`` for none."""
    if v is None:
        return ""
    if v.denominator == 1:
        return str(v.numerator)
    d = v.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:
        digits = 0
        while (v * 10**digits).denominator != 1:
            digits += 1
        return f"{float(v):.{digits}f}" if digits <= 15 else f"{v.numerator}/{v.denominator}"
    return f"{v.numerator}/{v.denominator}"


# -- our extractors ----------------------------------------------------------------------------------

_HASH = re.compile(r"####")
_ANSWER_IS = re.compile(r"(?i)\banswer\s*(?:is\b|:|=)")


def _line_after(text: str, at: int) -> str:
    end = text.find("\n", at)
    return text[at:] if end < 0 else text[at:end]


def answer_candidates(text: str) -> list[tuple[int, str, str]]:
    """``(position, kind, span)`` of every stated answer: ``hash`` (``####``), ``boxed``, ``answer``
    ("answer is"/"Answer:"), in text order."""
    out = [(m.start(), "hash", _line_after(text, m.end())) for m in _HASH.finditer(text)]
    out += [(pos, "boxed", content) for pos, content in boxed_spans(text)]
    out += [(m.start(), "answer", _line_after(text, m.end())) for m in _ANSWER_IS.finditer(text)]
    return sorted(out, key=lambda c: c[0])


def extract_boxed_number(text: str) -> Fraction | None:
    """The value in the last ``\\boxed{}``."""
    spans = boxed_spans(text)
    return parse_number(spans[-1][1]) if spans else None


def extract_last_number(text: str) -> Fraction | None:
    found = numbers_in(clean(text), span=False)
    return found[-1].value if found else None


def extract_best(text: str) -> tuple[Fraction | None, str]:
    """The last stated answer that reads as a number, with its kind (``hash``, ``boxed``,
    ``answer``), else the last number in the text (kind ``last``); ``(None, "")`` when there is none."""
    for _, kind, span in reversed(answer_candidates(text)):
        value = parse_number(span)
        if value is not None:
            return value, kind
    value = extract_last_number(text)
    return (value, "last") if value is not None else (None, "")


def gsm8k_gold(answer: str) -> str:
    """The gold of a GSM8K ``answer`` field: the text after its last ``#### `` (the whole string when
    there is none, e.g. a bare gold from a corpus document's ``meta``)."""
    if "####" in answer:
        answer = answer.rsplit("####", 1)[1]
    return answer.strip()


def exact_number(s: str, lists: bool | None = None) -> Fraction | None:
    """The value of ``s`` when it is nothing but one number whose reading is certain (``-0.75``,
    ``1,000``, ``10,\\!080``, ``\\frac{3}{4}``, ``3/4``, a mixed ``2\\frac{1}{4}`` or ``2 1/4``, ``$5``),
    else ``None``: MATH answers that compare by value without sympy. ``lists=True`` (the problem asks for
    a list, "separated by commas") reads ``70,110`` as two numbers, so not as one."""
    s = clean(s).strip()
    m = _SPAN_NUMBER.fullmatch(s)
    if m is None or (lists and "," in m["body"]):
        return None
    return _value(m)
