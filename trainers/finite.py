"""Stop training on a non-finite loss instead of writing NaN weights into the cache.

A diverged run (``lr: 1e6``, NaN starting weights, an fp16 overflow) would otherwise go on for every
remaining step, save a model that scores NaN, and — before the engine checked scores — rank first.
Every training loop calls ``check_loss`` before its optimizer step; TRL trainers get ``StopOnNonFinite``.
"""

from __future__ import annotations

import math
from typing import Any

from harness.finite import NonFiniteError


def check_loss(loss: Any, step: int, where: str) -> float:
    """The loss as a float; raises ``NonFiniteError`` naming the trainer and the (1-based) step."""
    value = float(loss.detach() if hasattr(loss, "detach") else loss)
    if not math.isfinite(value):
        raise NonFiniteError(
            f"{where}: training loss is {value} at step {step}; stopped (lower lr, check the data "
            "or the starting weights)"
        )
    return value


def stop_on_nonfinite_callback(where: str) -> Any:
    """A ``transformers.TrainerCallback`` that raises on a non-finite logged loss (TRL SFT/GRPO)."""
    from transformers import TrainerCallback

    class StopOnNonFinite(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            for key in ("loss", "train_loss"):
                if logs and key in logs:
                    check_loss(logs[key], int(state.global_step), where)

    return StopOnNonFinite()
