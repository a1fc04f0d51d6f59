"""planeval's metrics as Hugging Face ``evaluate`` modules, loadable offline by local path.

Each metric is a folder ``<name>/`` holding ``<name>.py`` (an ``evaluate.Metric``) and its card
``README.md``: evaluate's convention for a local module, so ``evaluate.load(path(name))`` works with
``HF_HUB_OFFLINE=1`` and no Hub access. The modules compute by calling planeval's own scoring code (the
tasks' per-sample functions and aggregates), so a number from ``evaluate`` is the leaderboard's number.

The folders are not Python packages (no ``__init__.py``): the task registry, which imports every module
under ``tasks``, never imports them; only ``evaluate`` does, on ``load``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import PlanevalError

_HERE = Path(__file__).resolve().parent

#: the modules shipped, by name (each is ``<name>/<name>.py``)
NAMES = (
    "perplexity",
    "rouge",
    "gsm8k_accuracy",
    "math_accuracy",
    "action_edit_distance",
    "mauve_features",
    "plan_match",
)


def path(name: str) -> str:
    """The folder of the installed module ``name``, what ``evaluate.load`` takes."""
    if name not in NAMES:
        raise PlanevalError(f"no planeval evaluate module {name!r} (valid: {', '.join(NAMES)})")
    return str(_HERE / name)


def load(name: str, **kwargs: Any) -> Any:
    """``evaluate.load`` of the module ``name`` by its local path (no network); ``kwargs`` go to
    ``evaluate.load`` (``cache_dir``, ``keep_in_memory``, ``experiment_id``, ...)."""
    import evaluate

    return evaluate.load(path(name), **kwargs)
