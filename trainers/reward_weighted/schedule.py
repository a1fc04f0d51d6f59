"""When the reward model is (re-)trained: the paper's Algorithm 2.

The reward model is trained once before the first policy step, then re-trained (continuing from its
current weights, never re-initialised) every ``every`` policy steps while the policy is in the first half
of its training: after step s when ``s % every == 0`` and ``2·s < max_steps``. The second half of policy
training therefore runs against a fixed reward model, so the policy is not chasing a moving target at
the end. The paper's period is half an epoch of the policy's data; ``period_in_steps`` converts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def period_in_steps(every_epochs: float, steps_per_epoch: int) -> int:
    """A period given in epochs of the policy's training data, in policy steps (at least 1)."""
    return max(1, round(every_epochs * steps_per_epoch))


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    return max(1, math.ceil(n_examples / batch_size))


@dataclass(frozen=True)
class RetrainSchedule:
    max_steps: int
    every: int | None  # policy steps between re-trainings; None: train the reward model once, first

    def fires(self, step: int) -> bool:
        """Whether the reward model is re-trained right after policy step ``step`` (1-based count)."""
        return (
            self.every is not None
            and 0 < step < self.max_steps
            and step % self.every == 0
            and 2 * step < self.max_steps
        )

    def steps(self) -> list[int]:
        """Every step after which a re-training happens (the initial training, at 0, not included)."""
        return [s for s in range(1, self.max_steps) if self.fires(s)]

    def rounds(self) -> list[int]:
        """The policy step before which each reward-training round runs: 0, then every re-training."""
        return [0, *self.steps()]
