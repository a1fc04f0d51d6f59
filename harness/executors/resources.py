"""Per-stage resource requests as data: a default per stage kind, what a trainer or task declares, then
the suite's ``resources:`` (by kind, then by variant name or task label), then the variant's or task
entry's own ``resources:``. Back ends map the result to their options (submitit, Ray task options); it
is never part of a key."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.specs import ResourceSpec

KINDS = ("corpus", "tokenizer", "artifact", "train", "eval")


class Resources(BaseModel):
    """A complete request: every field set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpus: int = Field(1, ge=1)
    gpus: int = Field(0, ge=0)
    mem_gb: float = Field(4.0, gt=0)
    timeout_min: int = Field(60, ge=1)

    def merged(self, *layers: ResourceSpec | dict[str, Any] | None) -> Resources:
        """This request with each layer's set fields over it, in order (later wins)."""
        values = self.model_dump()
        for layer in layers:
            if layer is None:
                continue
            spec = layer if isinstance(layer, ResourceSpec) else ResourceSpec.model_validate(layer)
            values.update(spec.model_dump(exclude_none=True))
        return Resources.model_validate(values)

    def describe(self) -> str:
        gpus = f" gpus={self.gpus}" if self.gpus else ""
        return f"cpus={self.cpus}{gpus} mem={self.mem_gb:g}G time={self.timeout_min}m"


#: what a stage asks for when nothing declares more: data stages are light, training and evaluation
#: get the most time (a trainer or task that needs a GPU says so)
DEFAULTS: dict[str, Resources] = {
    "corpus": Resources(cpus=1, mem_gb=4, timeout_min=60),
    "tokenizer": Resources(cpus=1, mem_gb=4, timeout_min=60),
    "artifact": Resources(cpus=1, mem_gb=8, timeout_min=120),
    "train": Resources(cpus=1, mem_gb=8, timeout_min=24 * 60),
    "eval": Resources(cpus=1, mem_gb=8, timeout_min=12 * 60),
}


def declared(impl: Any, arg: Any) -> dict[str, Any] | None:
    """What a trainer (``resources(config)``) or task (``resources(params)``) declares, if it does."""
    hook = getattr(impl, "resources", None)
    return dict(hook(arg)) if callable(hook) else None
