"""LaTeX answer spans: the last ``\\boxed{…}``/``\\fbox{…}`` with brace matching, and ``$…$`` stripping.

Brace matching skips escaped braces (``\\{``, ``\\}``): they are literal set braces, so
``\\boxed{\\{1,2\\}}`` holds ``\\{1,2\\}`` and an unbalanced ``\\left\\{`` inside a box does not end it early.
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
