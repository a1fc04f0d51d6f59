"""The trainer API.

``train`` writes the artifact into ``ctx.out_dir`` (a temporary directory renamed into the cache on
success) and keeps resumable checkpoints in ``ctx.checkpoint_dir``, which survives a kill; ``load``
turns a finished artifact back into a ``PlanevalLM``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from harness.adapters import PlanevalLM
from harness.corpus import Corpus
from harness.registry import Registry
from harness.specs import VariantSpec
from harness.stages import ArtifactContext


@dataclass(frozen=True)
class Requirement:
    """An upstream model artifact a trainer builds on (a base LM, a pretrained planner, an SFT
    checkpoint): a registered ``variant`` (with the suite's overrides applied) or a ``trainer`` with
    ``params``. It is a train stage of its own, keyed like any other, so every variant that requires the
    same thing shares one artifact; its key is part of the requiring model's key."""

    variant: str | None = None
    trainer: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    family: str = "component"

    def __post_init__(self) -> None:
        if (self.variant is None) == (self.trainer is None):
            raise ValueError("a Requirement names exactly one of variant= or trainer=")


class TrainerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class TrainContext(ArtifactContext):
    variant: VariantSpec
    config: Any  # the trainer's validated Config instance
    seed: int
    corpus: Corpus
    tokenizer: Any  # a transformers PreTrainedTokenizerFast
    out_dir: Path  # write the final artifact here
    checkpoint_dir: Path  # resumable state; kept across kills, deleted after success
    progress: bool = True
    #: artifacts of the stages named by ``Trainer.requires``, by requirement name
    inputs: dict[str, Path] = field(default_factory=dict)
    log: Callable[[str], None] = print
    #: the derived artifacts ``Trainer.artifacts`` requested, by stage name (also ``ctx.<name>``)
    artifacts: dict[str, Any] = field(default_factory=dict)


class Trainer(ABC):
    Config: ClassVar[type[BaseModel]] = TrainerConfig
    #: bump when the trainer's code changes what it produces: it is part of every model key
    version: ClassVar[str] = "1"
    #: config fields that change only how the trained model is evaluated (e.g. the planner's
    #: ``eval_actions``): left out of the train key, so variants differing only in them train once
    eval_fields: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def train(self, ctx: TrainContext) -> None: ...

    def requires(self, config: Any) -> dict[str, Requirement]:
        """Upstream artifacts this config builds on, by name (passed back as ``ctx.inputs[name]``)."""
        return {}

    def corpus(self, config: Any) -> str | None:
        """The named suite corpus (``SuiteSpec.corpora``) this config trains on; None: the main one."""
        return None

    def artifacts(self, config: Any) -> tuple[str, ...]:
        """Derived stages (``harness.stages.DERIVED``) training reads, as ``ctx.<name>``; their keys are
        part of the model key."""
        return ()

    def capabilities(self, config: Any) -> frozenset[str]:
        """What the adapter ``load`` returns can do (``harness.adapters.CAPABILITIES``), known without
        loading it, so planning can check each task's ``needs``."""
        return frozenset()

    def pretrained(self, config: Any) -> dict[str, str]:
        """Config fields that name pretrained weights to load (field → Hub id or local folder), so
        planning can reject a missing folder, or a Hub id on an offline machine, before any work."""
        return {}

    def context_length(self, config: Any, required: dict[str, int | None]) -> int | None:
        """The context (max positions) of the model this config trains, if known at plan time;
        ``required``: the context of each requirement's model (e.g. the base LM's)."""
        return None

    def context_needs(self, config: Any) -> dict[str, int]:
        """Config fields that need this many positions of the model's context (e.g. ``seq_len``)."""
        return {}

    def fingerprint(self, config: Any) -> str:
        """What the artifact depends on beyond the config (e.g. a digest of local starting weights),
        so that the model key changes when such an input changes; empty when there is none."""
        return ""

    @abstractmethod
    def load(self, artifact_dir: Path, identity: str) -> PlanevalLM: ...

    def train_identity(self, config: Any) -> Any:
        """What the train key hashes: the config without ``eval_fields``; a trainer may also map
        configs that train identically to one form (the planner's mix at q = 0 is oracle training)."""
        if not self.eval_fields:
            return config
        return config.model_dump(mode="json", exclude=set(self.eval_fields))

    def load_model(self, artifact_dir: Path, identity: str, config: Any) -> PlanevalLM:
        """``load`` for a variant's ``config``: a trainer with ``eval_fields`` applies them here (the
        shared artifact was trained by whichever variant came first)."""
        return self.load(artifact_dir, identity)


TRAINERS: Registry[type[Trainer]] = Registry("trainer", "planeval.trainers", builtin_packages=("trainers",))
