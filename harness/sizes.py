"""The size a stage's running time scales by, read from its validated config: training, the tokens it
sees (steps × batch × sequence length); an evaluation, the samples it scores. Recorded with each run's
timings, so ``planeval run --dry-run`` can scale a recorded time to a stage of another size."""

from __future__ import annotations

from typing import Any

TRAIN_UNITS = ("max_steps", "batch_size", "seq_len")
EVAL_UNITS = ("n_prompts", "n_samples", "max_docs", "n_docs", "max_items")


def units(config: Any, fields: tuple[str, ...]) -> float | None:
    """The product of the numeric ``fields`` the config has (None: it has none of them)."""
    if config is None:
        return None
    get = config.get if isinstance(config, dict) else lambda f: getattr(config, f, None)
    nums = [float(v) for f in fields if isinstance(v := get(f), int | float) and not isinstance(v, bool)]
    if not nums:
        return None
    out = 1.0
    for v in nums:
        out *= v
    return out
