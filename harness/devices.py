"""``device=auto``: the accelerator this machine has (CUDA, then Apple's MPS), else the CPU.

Shared by the ``hf:`` and ``lm-eval:`` loaders; a device changes how fast a model runs, not its numbers
(up to kernel rounding), so it is recorded with a result but is not part of any key.
"""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` / ``mps`` / ``cpu``, whichever is available first; anything else unchanged
    (``cuda:1`` included)."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"
