"""How a ``generate`` call draws its tokens: one frozen config for every adapter and every caller
(docs/model-api.md), in the spirit of Inspect AI's ``GenerateConfig``.

Frozen and validated, so a config can be shared, compared and hashed (``harness.hashing.stable_hash``
hashes it through its ``model_dump``) without anyone changing it underneath; ``replace`` derives a
changed copy (a two-stage adapter's plan stage, a re-seeded call) and validates it again.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Sampling(BaseModel):
    """Continue each prompt with at most ``max_new_tokens`` tokens drawn at ``temperature`` (0: greedy),
    optionally restricted to the ``top_k`` most likely tokens and the ``top_p`` nucleus. ``seed`` seeds
    every row (an adapter derives one generator per prompt from it, so a row does not depend on its
    batch). A text ends at end-of-text, or never draws it when ``stop_at_eos`` is off (every continuation
    is then exactly ``max_new_tokens`` long), or at the first of the ``stop`` strings (trimmed from the
    text)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_new_tokens: int = Field(ge=0)
    temperature: float = Field(1.0, ge=0)
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int = 0
    stop: tuple[str, ...] = ()
    stop_at_eos: bool = True

    def replace(self, **changes: Any) -> Sampling:
        """A copy with ``changes``, validated as a new config is (``model_copy`` would not check)."""
        return Sampling.model_validate({**self.model_dump(), **changes})
