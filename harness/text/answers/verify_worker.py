"""A math-verify worker process (``python -m harness.text.answers.verify_worker``), driven by
``harness.text.answers.symbolic.SymbolicChecker`` over its stdin/stdout.

Protocol, one JSON document per line: the worker prints ``"ready"`` once math-verify is imported, then
answers each request ``{"pairs": [[gold, prediction], ...], "timeout": seconds}`` with a list of
booleans. The checks run on this process's main thread, where math-verify's ``signal.alarm`` time
limits work; the parent adds a wall-clock deadline and kills the process when even those fail (sympy
stuck in C code).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence


def wrap(answer: str) -> str:
    """``$answer$``: math-verify then reads the whole answer as one LaTeX expression; on a bare string
    it can grab one number out of an expression (``15x - 80`` → 80; docs/tasks/math.md)."""
    return f"${answer.strip().strip('$').strip()}$"


def verify_pairs(pairs: Sequence[Sequence[str]], timeout_s: int) -> list[bool]:
    """math-verify on each ``(gold, prediction)``; ``timeout_s`` bounds each parse and comparison
    (math-verify's alarms: main thread only)."""
    from math_verify import parse, verify

    out = []
    for gold, pred in pairs:
        try:
            g = parse(wrap(gold), parsing_timeout=timeout_s)
            p = parse(wrap(pred), parsing_timeout=timeout_s)
            out.append(bool(g) and bool(p) and bool(verify(g, p, timeout_seconds=timeout_s)))
        except Exception:  # math-verify can raise on odd input despite raise_on_error=False
            out.append(False)
    return out


def main() -> None:
    import math_verify  # noqa: F401 - import before saying ready, so deadlines count checking only

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # timeouts are the parent's business
    print(json.dumps("ready"), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        result = verify_pairs(request["pairs"], int(request["timeout"]))
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
