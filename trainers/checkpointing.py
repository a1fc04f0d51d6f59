"""Resumable training state on disk: the weights, optimizer and scheduler, every RNG, and the step.

A checkpoint is a folder ``<root>/step-<NNNNNNNN>/`` written in a temporary sibling and renamed into
place, so a kill mid-write leaves the previous checkpoint intact; ``manifest.json`` is written last
inside it and marks it complete. Only the newest ``keep`` checkpoints are kept. The manifest lists each
file's size and sha256 (``harness.cache.seal``): resume takes the newest checkpoint that verifies and
logs each newer one it skips, so a corrupted newest checkpoint falls back to the older intact one.
A temporary folder names its owner (host, pid) and is removed only once that owner is gone.

Weights go to safetensors; optimizer and scheduler state dicts to ``torch.save`` (read back with
``weights_only=True``, so a checkpoint cannot run code); Python's and NumPy's RNG states to JSON and
torch's to safetensors, so that dropout and sampling continue exactly where the killed run stopped.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from harness.cache import seal, verify_tree
from harness.lease import owner_alive, owner_tag

CHECKPOINT_PREFIX = "step-"
MANIFEST = "manifest.json"

_log = logging.getLogger("planeval.checkpoint")


class TrainingInterrupted(RuntimeError):
    """Raised by a trainer asked to stop early (tests simulate a kill with it): the checkpoints stay and
    no artifact is written."""


def checkpoint_name(step: int) -> str:
    return f"{CHECKPOINT_PREFIX}{step:08d}"


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and (p / MANIFEST).is_file()
    ]
    return sorted(found, key=lambda p: int(p.name.removeprefix(CHECKPOINT_PREFIX)))


def verify_checkpoint(path: Path, full: bool = True) -> str | None:
    """Why a checkpoint fails verification (naming the file), or None when every digest matches."""
    return verify_tree(Path(path), full)


def latest_checkpoint(
    root: Path, *, full: bool = True, log: Callable[[str], None] | None = None
) -> Path | None:
    """The newest checkpoint that verifies (``full``: every sha256; else sizes and small files), or None.
    Each newer one that fails is skipped with one line to ``log`` (default: a logging warning)."""
    say = log or _log.warning
    for ckpt in reversed(list_checkpoints(root)):
        problem = verify_checkpoint(ckpt, full)
        if problem is None:
            return ckpt
        say(f"[checkpoint] skipping {ckpt.name} in {Path(root)}: {problem}")
    return None


# -- RNG states ------------------------------------------------------------------------------------


def rng_state() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Python and NumPy global RNG states (JSON-able) and torch's (tensors)."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    json_state = {
        "python": [version, list(mt), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda{i}"] = state
    return json_state, tensors


def set_rng_state(json_state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    version, mt, gauss = json_state["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, pos, has_gauss, cached = json_state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["torch_cpu"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("torch_cuda")]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# -- save / load -----------------------------------------------------------------------------------


def save_checkpoint(
    root: Path,
    step: int,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    extra: dict[str, Any] | None = None,
    keep: int = 2,
) -> Path:
    """Write the state after ``step`` optimizer steps atomically; drop all but the newest ``keep``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / checkpoint_name(step)
    tmp = root / f".tmp-{checkpoint_name(step)}-{owner_tag()}"
    tmp.mkdir()
    try:
        save_model(model, str(tmp / "model.safetensors"))
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        if scheduler is not None:
            torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        json_state, tensors = rng_state()
        save_file(tensors, str(tmp / "rng.safetensors"))
        manifest = seal({"step": step, "rng": json_state, "extra": extra or {}}, tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest))
        if final.exists():  # a previous run died after renaming but before pruning: replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".tmp-*"):
        try:
            mtime = stale.stat().st_mtime
        except FileNotFoundError:
            continue
        if not owner_alive(stale.name, mtime):  # left by a killed process; never a live one's
            shutil.rmtree(stale, ignore_errors=True)
    return final


def load_checkpoint(
    path: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    rng: bool = True,
) -> dict[str, Any]:
    """Restore what ``save_checkpoint`` wrote into live objects; return ``{"step", "extra"}``."""
    path = Path(path)
    manifest = json.loads((path / MANIFEST).read_text())
    missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False)
    if unexpected or missing:
        raise ValueError(
            f"{path}: checkpoint does not fit the model (missing {missing}, unexpected {unexpected})"
        )
    if optimizer is not None:
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    if scheduler is not None:
        scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    if rng:
        restore_rng(path)
    return {"step": int(manifest["step"]), "extra": manifest.get("extra", {})}


def restore_rng(path: Path) -> None:
    """Set every RNG to the checkpoint's state: call it last before the training loop, after anything
    that draws random numbers (model construction, ``accelerate.prepare``)."""
    path = Path(path)
    set_rng_state(json.loads((path / MANIFEST).read_text())["rng"], load_file(str(path / "rng.safetensors")))
