"""Model loaders: ``<prefix>:<target>`` names a model that no trainer of this suite builds.

A suite variant (or a trainer's requirement) spelled ``hf:gpt2`` or ``hf:/models/my-lm`` is planned by
the loader registered under its prefix: it checks the target before any work, gives the model's identity
(part of every key), its context and capabilities, and loads the adapter when an evaluation needs it.
The runner only looks the prefix up (docs/stages.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.errors import SpecError
from harness.registry import Registry

if TYPE_CHECKING:  # planning and cached re-runs must not import torch
    from harness.adapters import PlanevalLM


@dataclass(frozen=True)
class LoadedModel:
    """What planning knows about a loadable model without loading it."""

    target: str  # what ``load`` is given (a Hub id, or an absolute path)
    identity: str  # the model's identity: Hub id, or path + digest of the weights
    context: int | None  # max positions, when the config says
    capabilities: frozenset[str]
    family: str = "pretrained"
    #: validated load options (``dtype``, ``device``, ...: what ``load`` passes on)
    options: dict[str, Any] = field(default_factory=dict)
    #: the row label in tables (a ``name=`` option); None: the reference as written
    label: str | None = None


class ModelLoader(ABC):
    """Plans and loads the models named ``<prefix>:<target>``."""

    @abstractmethod
    def plan(self, target: str, source: str, field: str) -> LoadedModel:
        """Check the target (offline, before any work; errors name ``source``/``field``)."""

    @abstractmethod
    def load(self, model: LoadedModel) -> PlanevalLM: ...


LOADERS: Registry[type[ModelLoader]] = Registry(
    "model loader", "planeval.loaders", builtin_packages=("harness.loaders",)
)


def split_reference(name: str) -> tuple[str, str] | None:
    """``(prefix, target)`` of a loader reference such as ``hf:gpt2``; None for a variant name."""
    prefix, sep, target = name.partition(":")
    if not sep or prefix not in LOADERS:
        return None
    return prefix, target


def split_args(target: str, source: str, field: str) -> tuple[str, dict[str, str]]:
    """``<target>[,key=value...]`` (lm-eval's ``model_args`` spelling) -> ``(target, {key: value})``; a
    part that is not ``key=value``, or a key given twice, is one line naming ``source``/``field``."""
    head, _, rest = target.partition(",")
    args: dict[str, str] = {}
    for part in (p for p in rest.split(",") if p.strip()):
        key, sep, value = (x.strip() for x in part.partition("="))
        if not sep or not key:
            raise SpecError(source, field, f"option {part.strip()!r} is not key=value")
        if key in args:
            raise SpecError(source, field, f"option {key!r} is given twice")
        args[key] = value
    return head.strip(), args
