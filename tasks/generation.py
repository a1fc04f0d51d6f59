"""What the generation tasks keep of the shared generation protocol (docs/generation.md): the sampling
params of the three tasks that read unconditional samples, and the engine's generation requests for a
task's model and context. The protocols, their cache and their key are the engine's
(``harness.generation``).
"""

from __future__ import annotations

from pydantic import Field

from harness.adapters import PlanevalLM
from harness.generation import Generations, UnconditionalProtocol
from harness.sampling import Sampling
from tasks.base import TaskContext, TaskParams


class UnconditionalParams(TaskParams):
    """The sampling parameters of the tasks that read unconditional samples (``mauve``, ``latent_ppl``,
    ``plan_match``). One definition, so their defaults stay equal and the tasks share one generation."""

    n_samples: int = Field(1000, ge=1)
    max_new_tokens: int = Field(1024, ge=1)
    stop_at_eos: bool = False
    temperature: float = Field(1.0, ge=0)
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)

    def protocol(self, seed: int) -> UnconditionalProtocol:
        """The unconditional protocol these params ask for, seeded by the evaluation's ``seed``."""
        sampling = Sampling(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            seed=seed,
            stop_at_eos=self.stop_at_eos,
        )
        return UnconditionalProtocol(n_samples=self.n_samples, sampling=sampling)


def generations(model: PlanevalLM, ctx: TaskContext) -> Generations:
    """The engine's generation requests for ``model``, cached under the runner's model key."""
    return Generations(model, ctx.cache, ctx.model_key, ctx.progress)
