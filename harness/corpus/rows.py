"""Row datasets: the records of a local JSON Lines file or of a Hugging Face dataset split, as dicts.

Text corpora (``harness.corpus.base``) hold documents; some tasks evaluate structured records instead —
a math problem with its answer, its level and its reference solution — and lm-eval's protocols need
those records exactly as the dataset has them. The loading of such records lives here, beside the
corpus sources, so that no task parses a dataset spelling of its own:

* ``hf:<name>[:<config>]`` — ``datasets.load_dataset(name, config, split=split)``: a Hub id (offline,
  from the local datasets cache) or a local folder of data files;
* a ``.jsonl`` path, absolute, relative to the working directory, or ``data:<path>`` under the data
  root (``harness.paths``).

Every fault is one line naming the source and the split, file or line.
"""

from __future__ import annotations

from typing import Any

from harness.errors import MissingPathError, PlanevalError
from harness.hashing import file_digest
from harness.jsonl import read_jsonl
from harness.paths import local_path

HF_PREFIX = "hf:"


def check_row_source(spec: str) -> str:
    """``spec`` when it names a row dataset that exists (a local file) or can be asked for (``hf:``);
    a ``ValueError`` saying what is valid otherwise (pydantic validators turn it into a field error)."""
    if spec.startswith(HF_PREFIX):
        if not spec[len(HF_PREFIX) :].split(":")[0]:
            raise ValueError("give a dataset name or folder after 'hf:'")
        return spec
    if not local_path(spec).is_file():
        raise ValueError(
            f"no such file {spec!r} (valid: 'hf:<name>[:<config>]', a .jsonl path, or data:<path> under "
            "the data root)"
        )
    return spec


def is_local(spec: str) -> bool:
    """Whether ``spec`` names a local file (rather than an ``hf:`` dataset)."""
    return not spec.startswith(HF_PREFIX)


def load_rows(spec: str, split: str, where: str = "dataset") -> list[dict[str, Any]]:
    """The records of ``spec``; ``split`` applies to ``hf:`` datasets (a file is one split)."""
    if spec.startswith(HF_PREFIX):
        name, _, config = spec[len(HF_PREFIX) :].partition(":")
        import datasets  # heavy: only when an hf: dataset is named

        try:
            ds = datasets.load_dataset(name, config or None, split=split)
        except Exception as exc:
            raise PlanevalError(f"{where} {spec!r} split {split!r}: {type(exc).__name__}: {exc}") from None
        return [dict(r) for r in ds]
    path = local_path(spec)
    if not path.is_file():
        raise MissingPathError(f"{where}: no such file {path}")
    return read_jsonl(path)


def rows_fingerprint(spec: str) -> str:
    """A digest of a local file's bytes (empty for ``hf:``, whose identity is its name and split), so
    that editing the file changes every key computed from it."""
    if not is_local(spec):
        return ""
    path = local_path(spec)
    return file_digest(path) if path.is_file() else ""
