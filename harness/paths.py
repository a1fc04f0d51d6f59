"""The data root: suites name local data as ``data:<relative path>`` instead of a path relative to the
folder a run starts from, so one suite works from any working directory and on any machine.

The root is ``PLANEVAL_DATA`` (``--data-dir`` sets it), else ``../shared/data`` beside this checkout.
The spec keeps the ``data:`` spelling, so keys do not depend on where the data lives (the corpus and
task fingerprints digest the files themselves).
"""

from __future__ import annotations

import os
from pathlib import Path

PREFIX = "data:"
ENV = "PLANEVAL_DATA"
#: the default root: the shared data folder beside the repository checkout
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_root() -> Path:
    return Path(os.environ.get(ENV) or DEFAULT_ROOT).expanduser()


def local_path(spec: str) -> Path:
    """The file or folder a spec names: ``data:<rel>`` under the data root, else the path as given."""
    if spec.startswith(PREFIX):
        rel = spec[len(PREFIX) :].lstrip("/")
        return data_root() / rel
    return Path(spec).expanduser()
