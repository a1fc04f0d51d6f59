"""Resumable training state on disk: the weights, optimizer and scheduler, every RNG, and the step.

A checkpoint is a folder ``<root>/step-<NNNNNNNN>/`` written in a temporary sibling and renamed into
place, so a kill mid-write leaves the previous checkpoint intact; ``manifest.json`` is written last
inside it and marks it complete. Only the newest ``keep`` checkpoints are kept.

Weights go to safetensors; optimizer and scheduler state dicts to ``torch.save`` (read back with
``weights_only=True``, so a checkpoint cannot run code); Python's and NumPy's RNG states to JSON and
torch's to safetensors, so that dropout and sampling continue exactly where the killed run stopped.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model

CHECKPOINT_PREFIX = "step-"
MANIFEST = "manifest.json"


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


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    found = list_checkpoints(root)
    return found[-1] if found else None


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
    tmp = root / f".tmp-{checkpoint_name(step)}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    tmp.mkdir()
    try:
        save_model(model, str(tmp / "model.safetensors"))
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        if scheduler is not None:
            torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        json_state, tensors = rng_state()
        save_file(tensors, str(tmp / "rng.safetensors"))
        manifest = {"step": step, "rng": json_state, "extra": extra or {}}
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
        if stale.name.split("-")[-2] != str(os.getpid()):  # left by a killed process
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
