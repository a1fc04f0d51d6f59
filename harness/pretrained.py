"""Plan-time checks of pretrained weights and tokenizers named in specs (a Hub id or a local folder).

A suite that names a model folder that is not there, or a Hub id on a machine that is offline and has
not cached it, must fail when it is planned — not after the corpus was built and a base LM trained.
Only small JSON files are read here (no torch, no transformers import), so planning stays cheap.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.errors import MissingPathError, SpecError

#: where a config states its context, in the order lm-eval reads them (also ``resolve_max_length``)
CONTEXT_KEYS = ("n_positions", "max_position_embeddings", "n_ctx")


def is_offline() -> bool:
    """Whether the Hub must not be contacted (the variables huggingface_hub and transformers read)."""
    return any(
        os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"}
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).expanduser().exists()


def _hub_file(repo_id: str, filename: str) -> str | None:
    """The cached copy of one file of a Hub repository, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a transformers dependency
        return None
    try:
        found = try_to_load_from_cache(repo_id, filename)
    except Exception:  # an invalid repo id: the caller reports it as not found
        return None
    return found if isinstance(found, str) else None


def check_source(name: str, source: str, field: str, what: str, files: tuple[str, ...]) -> Path | None:
    """Check that ``name`` (a local folder or a Hub id) can be loaded; return its local folder if any.

    ``files``: the files of which at least one must be present (e.g. ``config.json`` for a model).
    """
    if not name or not name.strip():
        raise SpecError(source, field, f"empty {what} name or path")
    local = Path(name).expanduser()
    if looks_local(name):
        if not local.exists():
            raise MissingPathError(f"{source}: {field}: no such {what} folder {local}")
        if not local.is_dir():
            raise SpecError(source, field, f"{local} is not a folder (give a {what} folder)")
        if not any((local / f).is_file() for f in files):
            raise SpecError(source, field, f"{local} has none of {', '.join(files)}: not a {what} folder")
        return local.resolve()
    if is_offline():
        cached = [p for f in files if (p := _hub_file(name, f))]
        if not cached:
            raise SpecError(
                source,
                field,
                f"{what} {name!r} is not a local folder and is not in the Hugging Face cache, and the "
                "machine is offline (HF_HUB_OFFLINE=1): download it first or give a local path",
            )
        return Path(cached[0]).parent
    return None


def context_length(folder: Path | None) -> int | None:
    """The context of a model folder from its ``config.json`` (as lm-eval resolves it), if known."""
    if folder is None or not (folder / "config.json").is_file():
        return None
    try:
        config: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for cfg in (config.get("text_config"), config):
        if isinstance(cfg, dict):
            for key in CONTEXT_KEYS:
                value = cfg.get(key)
                if isinstance(value, int) and value > 0:
                    return value
    return None


MODEL_FILES = ("config.json",)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")
ENCODER_FILES = ("modules.json", "config.json", "config_sentence_transformers.json")


def context_of(name: str) -> int | None:
    """The context of a model given by Hub id or folder, from a local or cached ``config.json``."""
    local = Path(name).expanduser()
    if local.is_dir():
        return context_length(local)
    cached = _hub_file(name, "config.json")
    return context_length(Path(cached).parent) if cached else None
