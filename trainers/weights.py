"""Where a trainer's weights start: one spelling, parsed and digested here (docs/stages.md).

``weights:`` (and ``reward_weights:`` for the reward-weighted family's reward body) is one string:

* ``variant:<name>``: the trained model of another registered variant, a ``Requirement`` the runner
  builds first (its key is part of the requiring model's key);
* ``hf:<Hub id or local folder>``: pretrained Hugging Face weights, checked at plan time (a missing
  folder, or a Hub id on an offline machine, fails before any work) and, when local, digested so the
  model key follows the files;
* ``preset:<name>``: a GPT-2 shape from ``PRESETS``, trained from scratch.

Each config narrows the kinds it takes (``only``); the fields this replaces (``base:``,
``preset:``, ``sft:``, ``reward_body:``) fail validation with one line naming the new spelling
(``reject_retired``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import AfterValidator, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError, core_schema

from harness.hashing import tree_digest
from harness.pretrained import context_of
from trainers.base import Requirement

Kind = Literal["variant", "hf", "preset"]
KINDS: tuple[str, ...] = get_args(Kind)

#: GPT-2 shapes trained from scratch; ``gpt2`` is GPT-2 small (``GPT2Config()`` defaults)
PRESETS: dict[str, dict[str, int]] = {
    "micro": {"n_layer": 2, "n_embd": 32, "n_head": 2, "n_positions": 64},
    "tiny": {"n_layer": 4, "n_embd": 256, "n_head": 4, "n_positions": 128},
    "gpt2": {},
}
#: ``GPT2Config().n_positions``: the context of a preset that does not set one
GPT2_POSITIONS = 1024
#: the files of a local model folder whose bytes the fingerprint covers (as ``local_identity``)
WEIGHT_FILES = ("*.json", "*.safetensors", "*.bin")
_NAMES = {"variant": "variant:<name>", "hf": "hf:<Hub id or path>", "preset": "preset:<name>"}
_SPELLING = f"{_NAMES['variant']}, {_NAMES['hf']} or {_NAMES['preset']}"


@dataclass(frozen=True)
class Weights:
    """A parsed ``weights:`` value; it serialises back to its string, so config dumps and keys read
    ``variant:tiny-lm`` as written."""

    kind: Kind
    name: str

    @classmethod
    def parse(cls, text: str) -> Weights:
        kind, sep, name = text.partition(":")
        if not sep or kind not in KINDS:
            raise ValueError(f"weights {text!r} is not {_SPELLING}")
        if not name.strip():
            raise ValueError(f"weights '{kind}:' needs a name after the colon")
        if kind == "preset" and name not in PRESETS:
            raise ValueError(f"unknown preset {name!r} (valid: {', '.join(PRESETS)})")
        return cls(kind, name)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    def requirement(self) -> Requirement | None:
        """The train stage to build first: a ``variant:``'s model (``hf:`` and ``preset:`` have none)."""
        return Requirement(variant=self.name) if self.kind == "variant" else None

    def pretrained(self) -> str | None:
        """The Hub id or local folder of ``hf:`` weights, for ``Trainer.pretrained``'s offline check."""
        return self.name if self.kind == "hf" else None

    @property
    def local(self) -> Path | None:
        """The folder of local ``hf:`` weights (None for a Hub id and the other kinds)."""
        if self.kind != "hf":
            return None
        path = Path(self.name).expanduser()
        return path.resolve() if path.is_dir() else None

    def source(self) -> str:
        """What ``from_pretrained`` is given for ``hf:`` weights: the absolute folder, or the Hub id."""
        if self.kind != "hf":
            raise ValueError(f"{self} names no pretrained weights")
        return str(self.local) if self.local is not None else self.name

    def context_length(self, required: int | None) -> int | None:
        """Max positions of the starting model: the required variant's (``required``), the pretrained
        config's, or the preset's (a trainer overriding ``n_positions`` knows better)."""
        if self.kind == "variant":
            return required
        if self.kind == "hf":
            return context_of(self.name)
        return PRESETS[self.name].get("n_positions", GPT2_POSITIONS)

    def fingerprint(self) -> str:
        """The digest of local ``hf:`` weights, so a model key follows the files; empty otherwise (a
        variant's key is already in the requiring key, a Hub id names fixed weights)."""
        return tree_digest(self.local, WEIGHT_FILES) if self.local is not None else ""

    # -- pydantic: validated from a string, serialised to it -----------------------------------------

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        def validate(value: Any) -> Weights:
            if isinstance(value, Weights):
                return value
            if not isinstance(value, str):
                raise ValueError(f"weights must be a string: {_SPELLING}")
            return cls.parse(value)

        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> dict:
        return {"type": "string", "description": _SPELLING}


def only(*kinds: Kind) -> AfterValidator:
    """Narrows ``Weights`` to the kinds a field takes: ``Annotated[Weights, only("preset", "hf")]``."""

    def check(w: Weights) -> Weights:
        if w.kind not in kinds:
            valid = " or ".join(_NAMES[k] for k in kinds)
            raise ValueError(f"weights {w}: this trainer takes {valid}")
        return w

    return AfterValidator(check)


#: how an old field's value reads in the new spelling: its new field and the value written there
Respell = Callable[[Any], str]


def as_kind(field: str, kind: Kind) -> Respell:
    """``<old>: x`` is ``<field>: <kind>:x`` (``hf:x`` stays as it is)."""

    def respell(value: Any) -> str:
        text = str(value)
        return f"`{field}: {text if text.startswith('hf:') else f'{kind}:{text}'}`"

    return respell


def reject_retired(model: str, data: Any, retired: dict[str, Respell]) -> Any:
    """A ``mode="before"`` check: an old field fails at its own name, with one line saying what to
    write instead (e.g. "`base: tiny-lm` is now `weights: variant:tiny-lm`")."""
    if not isinstance(data, dict):
        return data
    errors = [
        InitErrorDetails(
            type=PydanticCustomError(
                "retired_field",
                "`{old}: {value}` is now {new}",
                {"old": old, "value": str(data[old]), "new": respell(data[old])},
            ),
            loc=(old,),
            input=data[old],
        )
        for old, respell in retired.items()
        if old in data
    ]
    if errors:
        raise ValidationError.from_exception_data(model, errors)
    return data
