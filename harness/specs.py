"""Specs as data: pydantic models (extra="forbid") loaded from YAML with ``yaml.safe_load``.

A malformed file fails before any work starts with a SpecError naming the file, the field and the
problem. Method-specific parameters (a trainer's hyperparameters, a task's parameters, a corpus
source's options) are validated by the ``Params``/``Config`` model of the registered object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from harness.errors import MissingPathError, SpecError

M = TypeVar("M", bound=BaseModel)

#: seeds are 32-bit unsigned: what numpy, torch and SQLite integers all take without overflow
MAX_SEED = 2**32 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description=f"0 … {MAX_SEED}")]


def _unique(values: list[Any], what: str) -> list[Any]:
    dupes = sorted({str(v) for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"duplicate {what}: {', '.join(dupes)}")
    return values


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorpusSpec(Strict):
    """Where the text comes from (a registered corpus source) and how it is split."""

    source: str = "synthetic"
    params: dict[str, Any] = Field(default_factory=dict)
    val_fraction: float = Field(0.05, ge=0, lt=1)
    test_fraction: float = Field(0.05, ge=0, lt=1)
    seed: Seed = 0

    @model_validator(mode="after")
    def _leaves_training_data(self) -> CorpusSpec:
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(
                f"val_fraction + test_fraction = {self.val_fraction + self.test_fraction:g} leaves no "
                "training documents (must be < 1)"
            )
        return self


class TokenizerSpec(Strict):
    """A byte-level BPE trained on the training split, or an HF tokenizer by name or path."""

    kind: Literal["bpe", "hf"] = "bpe"
    vocab_size: int = Field(8192, ge=260)
    min_frequency: int = Field(2, ge=1)
    name_or_path: str | None = None
    split_digits: bool = Field(
        False, description="bpe: every digit its own token (as LLaMA does; no token holds a number)"
    )

    @model_serializer(mode="wrap")
    def _stable_dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``split_digits`` is left out at its default, so tokenizer keys made before it existed hold."""
        data = handler(self)
        if not self.split_digits:
            data.pop("split_digits", None)
        return data

    @field_validator("name_or_path")
    @classmethod
    def _non_empty(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v


class ResourceSpec(Strict):
    """What one stage asks a back end for (``harness.executors``); unset fields keep the default of its
    stage kind or what its trainer or task declares. Never part of a key: where a stage runs does not
    change what it computes."""

    cpus: int | None = Field(None, ge=1, description="CPU cores of the stage's one process")
    gpus: int | None = Field(None, ge=0, description="GPUs on one node (several: accelerate/torchrun inside)")
    mem_gb: float | None = Field(None, gt=0, description="memory in GB")
    timeout_min: int | None = Field(None, ge=1, description="wall-clock limit in minutes")


class VariantSpec(Strict):
    """A named model variant: which trainer builds it and with which hyperparameters."""

    name: str
    family: str
    trainer: str
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    seed: Seed = 0
    resources: ResourceSpec | None = Field(None, description="what its training stage asks a back end for")


class TaskSpec(Strict):
    """One task with its parameters; ``alias`` tells two configurations of a task apart in a suite."""

    name: str
    alias: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    variants: list[str] | None = Field(
        None,
        min_length=1,
        description="run only on these suite variants (default: all), e.g. answer-checked tasks on the "
        "models trained to answer",
    )
    corpus: str | None = Field(
        None, description="read this named corpus of the suite (its 'corpora:') instead of the main one"
    )
    on_incapable: Literal["error", "skip"] = Field(
        "error",
        description="a variant lacking a capability the task needs: fail planning (error), or leave "
        "that pair out of the plan, listed in --dry-run (skip)",
    )
    resources: ResourceSpec | None = Field(None, description="what each of its eval stages asks for")

    @field_validator("variants")
    @classmethod
    def _unique_variants(cls, variants: list[str] | None) -> list[str] | None:
        return None if variants is None else _unique(variants, "variants")

    @property
    def label(self) -> str:
        return self.alias or self.name


class SuiteSpec(Strict):
    """Variants × tasks × seeds over one corpus and tokenizer."""

    name: str
    description: str = ""
    corpus: CorpusSpec = Field(default_factory=CorpusSpec)
    corpora: dict[str, CorpusSpec] = Field(
        default_factory=dict,
        description="named corpora besides the main one (e.g. arithmetic problems in a suite over text): "
        "a task reads one with 'corpus: <name>', a trainer through its config (Trainer.corpus); each is a "
        "cached corpus stage of its own; the tokenizer is trained on the main corpus",
    )
    tokenizer: TokenizerSpec = Field(default_factory=TokenizerSpec)
    artifacts: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="derived stage name → its spec (harness.stages); built only when a trainer or task "
        "of the suite requests it",
    )
    variants: list[str] = Field(min_length=1)
    tasks: list[TaskSpec] = Field(min_length=1)
    seeds: list[Seed] | None = Field(None, min_length=1, description="default: each variant's own seed")
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="variant name → trainer params merged over the variant's"
    )
    trainer_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="trainer name → params merged into every variant of that trainer (a preset for a "
        "whole family, e.g. its base model); per-variant overrides still win",
    )
    resources: dict[str, ResourceSpec] = Field(
        default_factory=dict,
        description="stage kind (corpus, tokenizer, artifact, train, eval), variant name or task label → "
        "what those stages ask a back end for (harness.executors); a name wins over a kind",
    )

    @field_validator("variants")
    @classmethod
    def _unique_variants(cls, variants: list[str]) -> list[str]:
        return _unique(variants, "variants")

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int] | None) -> list[int] | None:
        return None if seeds is None else _unique(seeds, "seeds")

    @field_validator("tasks")
    @classmethod
    def _unique_labels(cls, tasks: list[TaskSpec]) -> list[TaskSpec]:
        labels = [t.label for t in tasks]
        dupes = sorted({lbl for lbl in labels if labels.count(lbl) > 1})
        if dupes:
            raise ValueError(f"task labels must be unique; give an alias to: {', '.join(dupes)}")
        return tasks


# -- loading --------------------------------------------------------------------------------------


def _allowed_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (possibly nested) model that an unknown field was given to."""
    target: type[BaseModel] = model
    for part in loc[:-1]:
        fld = target.model_fields.get(str(part))
        ann = getattr(fld, "annotation", None)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            target = ann
    return sorted(target.model_fields)


def validate(model: type[M], data: Any, source: str, prefix: str = "") -> M:
    """``model.model_validate(data)``, turning the first problem into a SpecError."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        field = ".".join(p for p in (prefix, loc) if p)
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            msg = f"unknown field (allowed: {', '.join(_allowed_fields(model, first['loc']))})"
        more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
        raise SpecError(source, field, f"{msg}{more}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with the same key twice (PyYAML keeps the last one
    silently, so a typo'd duplicate would quietly change a spec)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` keys may be overridden: allowed
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if isinstance(key, (str, int, float, bool)) and key in seen:
            raise SpecError(loader.name, f"line {line}", f"duplicate key {key!r} (first at line {seen[key]})")
        if isinstance(key, (str, int, float, bool)):
            seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,  # type: ignore[arg-type]
)


def read_text_file(path: Path, what: str = "file") -> str:
    """The UTF-8 text of a file, or a one-line error naming it (missing, a folder, unreadable, binary)."""
    path = Path(path)
    if not path.exists():
        raise MissingPathError(f"{path}: no such {what}")
    if path.is_dir():
        raise SpecError(str(path), "", f"is a directory, not a {what}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(str(path), f"line {line}", f"not UTF-8 text (byte {exc.start})") from None


def read_yaml(path: Path) -> Any:
    path = Path(path)
    text = read_text_file(path, "YAML file")
    try:
        loader = _UniqueKeyLoader(text)
        loader.name = str(path)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise SpecError(str(path), where, f"invalid YAML: {getattr(exc, 'problem', exc)}") from None


def load_spec(model: type[M], path: Path) -> M:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(str(path), "", f"expected a mapping at the top level, got {type(data).__name__}")
    return validate(model, data, str(path))
