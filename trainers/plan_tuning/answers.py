"""Is a completion's answer right? The one check shared by GRPO rewards and the teacher's verifier.

It reads numbers with the math tasks' extractor (``harness.text.answers.numbers``), so a reward agrees with
the score the model is evaluated on: by default the answer must be stated after ``####`` (the format
every completion is trained to end with) and equal the gold by value (``18.00 == 18``); with
``require_marker=False`` the last stated answer or, failing that, the last number counts (lenient, for
teachers that do not follow the format).
"""

from __future__ import annotations

from fractions import Fraction

from harness.text.answers.numbers import extract_best, gsm8k_gold, parse_number


def gold_value(gold: str) -> Fraction | None:
    """The value of a gold answer (``"42"``, ``"1,000"``, or a whole GSM8K answer ending in ``#### 42``)."""
    return parse_number(gsm8k_gold(gold))


def predicted_value(completion: str, require_marker: bool = True) -> Fraction | None:
    value, kind = extract_best(completion)
    if require_marker and kind != "hash":
        return None
    return value


def is_correct(completion: str, gold: str, require_marker: bool = True) -> bool:
    expected = gold_value(gold)
    return expected is not None and predicted_value(completion, require_marker) == expected
