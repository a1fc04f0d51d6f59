"""LaTeX answer spans: the last ``\\boxed{…}``/``\\fbox{…}`` with brace matching, and ``$…$`` stripping.

Brace matching skips escaped braces (``\\{``, ``\\}``): they are literal set braces, so
``\\boxed{\\{1,2\\}}`` holds ``\\{1,2\\}`` and an unbalanced ``\\left\\{`` inside a box does not end it early.

``fold_spacing`` removes LaTeX spacing without changing what an answer means (docs/tasks/math.md):
a ``\\\\`` row break stays, thousands separators between digit groups go, other spacing becomes a space.
"""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)")


def matching_brace(text: str, open_at: int) -> int | None:
    """Index of the ``}`` closing the ``{`` at ``open_at`` (escaped braces ignored), or ``None``."""
    depth = 0
    i = open_at
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2  # an escaped character (\{, \}, \\) never opens or closes a group
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def boxed_spans(text: str) -> list[tuple[int, str]]:
    """``(start, content)`` of every complete ``\\boxed``/``\\fbox`` in order. ``\\boxed 5`` (no braces)
    takes the rest of the token up to ``$`` or the end of the line, as Hendrycks' reference does."""
    out: list[tuple[int, str]] = []
    for m in _BOX.finditer(text):
        j = m.end()
        if j < len(text) and text[j].isalpha():
            continue  # \boxedfoo is another command
        k = j
        while k < len(text) and text[k] in " \t":
            k += 1
        if k < len(text) and text[k] == "{":
            close = matching_brace(text, k)
            if close is not None:
                out.append((m.start(), text[k + 1 : close]))
        elif k > j and k < len(text):
            rest = re.match(r"[^$\n]*", text[k:])
            content = rest.group(0).strip() if rest else ""
            if content:
                out.append((m.start(), content))
    return out


def last_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{…}`` (or ``\\fbox{…}``), or ``None``."""
    spans = boxed_spans(text)
    return spans[-1][1] if spans else None


def last_boxed_with_position(text: str) -> tuple[int, str] | None:
    spans = boxed_spans(text)
    return spans[-1] if spans else None


def strip_math_delimiters(s: str) -> str:
    """``$x$``, ``$$x$$``, ``\\(x\\)``, ``\\[x\\]`` → ``x`` (outer delimiters only)."""
    s = s.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
            return s[len(left) : len(s) - len(right)].strip()
    return s


#: thousands separators as LaTeX writes them (``10,\\!080``, ``11,\\! 111``, ``10{,}080``, ``10\\,000``),
#: only between a digit and a group of exactly three digits
_THOUSANDS_SEP = r"(?<=\d)(?:,\\!|\{,\}|\\,|,\\,|,\\ |\\ )\s*(?=\d{3}(?!\d))"
_SPACING = re.compile(rf"\\\\|(?P<sep>{_THOUSANDS_SEP})|\\[!,;: ]|\{{,\}}|~")


def fold_spacing(s: str) -> str:
    """LaTeX spacing folded so that the value is kept: ``\\\\`` (a matrix or vector row break) is left
    alone, a thousands separator between digit groups is removed (``11,\\! 111,\\! 100`` → ``11111100``),
    ``\\!`` (negative space) is removed, ``{,}`` becomes ``,`` and ``\\,`` ``\\;`` ``\\:`` ``\\ `` ``~``
    a space. Replacing ``\\ `` naively would turn a row break ``\\\\ `` into ``\\ `` and merge two rows."""

    def repl(m: re.Match[str]) -> str:
        text = m.group(0)
        if text == "\\\\":
            return text
        if m["sep"] is not None:
            return ""
        if text == "\\!":
            return ""
        if text == "{,}":
            return ","
        return " "

    return _SPACING.sub(repl, s)
