"""What every result carries so it can be reproduced: git commit and package versions."""

from __future__ import annotations

import functools
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = (
    "planeval",
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "accelerate",
    "lm_eval",
    "rouge_score",
    "numpy",
    "pandas",
    "sqlalchemy",
    "spacy",
    "sentence-transformers",
)


@functools.cache
def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


@functools.cache
def git_commit() -> str:
    """HEAD of the checkout planeval runs from, with ``-dirty`` if tracked files have changed."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
