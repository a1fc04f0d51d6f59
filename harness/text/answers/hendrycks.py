"""Hendrycks et al.'s MATH answer normalisation (``strip_string``) and ``is_equiv``: the reference
protocol every published MATH number uses, kept character for character so ``acc_hendrycks`` compares
with them (tests check it against lm-eval's copy on every MATH test gold).

Quirks are kept on purpose: ``is_equiv`` falls back to raw string equality when normalisation raises
(e.g. two ``\\text{ `` in one answer), ``0.5`` is the only decimal mapped to a fraction, and units are
dropped only after ``\\text{ `` (with the space). ``harness.text.answers.math_answers`` builds on top of this.
"""

from __future__ import annotations


def _fix_fracs(string: str) -> str:
    """``\\frac12`` → ``\\frac{1}{2}``, ``\\frac1{72}`` → ``\\frac{1}{72}``."""
    substrs = string.split("\\frac")
    new_str = substrs[0]
    for substr in substrs[1:]:
        new_str += "\\frac"
        if substr[0] == "{":  # IndexError on a bare trailing \frac: is_equiv catches it
            new_str += substr
            continue
        if len(substr) < 2:
            return string
        a, b = substr[0], substr[1]
        if b != "{":
            new_str += "{" + a + "}{" + b + "}" + substr[2:]
        else:
            new_str += "{" + a + "}" + b + substr[2:]
    return new_str


def _fix_a_slash_b(string: str) -> str:
    """``3/4`` → ``\\frac{3}{4}`` for plain integers (raises on other ``a/b``, as the reference)."""
    parts = string.split("/")
    if len(parts) != 2:
        return string
    # int() raises on "\\pi/2" and the reference lets it escape: is_equiv then compares raw strings
    a, b = int(parts[0]), int(parts[1])
    if string != f"{a}/{b}":
        return string
    return "\\frac{" + str(a) + "}{" + str(b) + "}"


def _remove_right_units(string: str) -> str:
    if "\\text{ " in string:
        splits = string.split("\\text{ ")
        if len(splits) != 2:  # the reference asserts here; is_equiv then compares raw strings
            raise ValueError("more than one '\\text{ ' in an answer")
        return splits[0]
    return string


def _fix_sqrt(string: str) -> str:
    """``\\sqrt3`` → ``\\sqrt{3}``."""
    if "\\sqrt" not in string:
        return string
    splits = string.split("\\sqrt")
    new_string = splits[0]
    for split in splits[1:]:
        if split[0] != "{":  # IndexError on a bare trailing \sqrt, as in the reference
            new_string += "\\sqrt{" + split[0] + "}" + split[1:]
        else:
            new_string += "\\sqrt" + split
    return new_string


def strip_string(string: str) -> str:
    """Hendrycks' normalisation of a MATH answer string (may raise, like the reference)."""
    string = string.replace("\n", "")
    string = string.replace("\\!", "")
    string = string.replace("\\\\", "\\")
    string = string.replace("tfrac", "frac").replace("dfrac", "frac")
    string = string.replace("\\left", "").replace("\\right", "")
    string = string.replace("^{\\circ}", "").replace("^\\circ", "")
    string = string.replace("\\$", "")
    string = _remove_right_units(string)
    string = string.replace("\\%", "")
    string = string.replace(" .", " 0.").replace("{.", "{0.")
    if not string:
        return string
    if string[0] == ".":
        string = "0" + string
    if len(string.split("=")) == 2 and len(string.split("=")[0]) <= 2:
        string = string.split("=")[1]
    string = _fix_sqrt(string)
    string = string.replace(" ", "")
    string = _fix_fracs(string)
    if string == "0.5":
        string = "\\frac{1}{2}"
    return _fix_a_slash_b(string)


def is_equiv(str1: str | None, str2: str | None) -> bool:
    """Hendrycks' equivalence: equal after ``strip_string`` (raw equality when that raises)."""
    if str1 is None and str2 is None:
        return True
    if str1 is None or str2 is None:
        return False
    try:
        return strip_string(str1) == strip_string(str2)
    except Exception:  # the reference's own fallback
        return str1 == str2
