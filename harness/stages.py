"""Derived stages: artifacts built once per (corpus, spec) that trainers and tasks request by name.

A family registers a ``DerivedStage`` (the planner family registers ``actions``: sentence embeddings
clustered into writing actions); a trainer or task asks for it through ``artifacts(config)``; a suite
configures it under ``artifacts: {<name>: {...}}``. The engine plans, keys, builds, verifies and hands
the loaded artifact to whoever asked (``ctx.<name>``) without knowing what any of them is
(docs/stages.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from harness.corpus import Corpus
from harness.registry import Registry


class DerivedStage(ABC):
    """One derived artifact: its spec (validated from the suite), how to build it and how to load it."""

    #: the spec a suite gives under ``artifacts.<name>`` (all fields defaulted: an omitted entry is valid)
    Spec: ClassVar[type[BaseModel]]
    #: bump when the build code changes what it produces: it is part of the artifact's key
    version: ClassVar[str] = "1"

    def check(self, spec: Any, source: str, field: str) -> None:
        """Plan-time checks of the spec's external inputs (a local encoder folder, an offline Hub id),
        reported at ``source``/``field``; runs only when some trainer or task requests the stage."""
        return None

    def label(self, spec: Any) -> str:
        """What the ``--dry-run`` listing shows for this stage."""
        return type(self).__name__

    @abstractmethod
    def build(
        self, corpus: Corpus, spec: Any, out_dir: Path, *, log: Callable[[str], None], progress: bool
    ) -> dict[str, Any]:
        """Build the artifact into ``out_dir``; returns facts for the stage's manifest (``info``)."""

    @abstractmethod
    def load(self, path: Path, spec: Any) -> Any:
        """The built artifact as the object trainers and tasks receive."""


DERIVED: Registry[type[DerivedStage]] = Registry(
    "derived stage", "planeval.stages", builtin_packages=("trainers", "tasks")
)


class ArtifactContext:
    """Requested derived artifacts as attributes of a train/task context: ``ctx.<stage name>``."""

    artifacts: dict[str, Any]

    def __getattr__(self, name: str) -> Any:  # only called when normal lookup fails
        if name.startswith("_") or name == "artifacts":
            raise AttributeError(name)
        artifacts = self.__dict__.get("artifacts") or {}
        if name in artifacts:
            return artifacts[name]
        raise AttributeError(
            f"{type(self).__name__} has no {name!r}: derived artifacts reach a trainer or task only when "
            f"its artifacts() names them (requested here: {', '.join(sorted(artifacts)) or 'none'})"
        )
