"""Any Hugging Face dataset as a corpus, through ``datasets.load_dataset``.

``name`` is a Hub id, a local dataset folder, or a packaged builder (``json``, ``text``, ``parquet``,
``csv``) with ``data_files``. ``splits`` maps planeval splits to the dataset's split names (HF slice
syntax such as ``train[:1000]`` works); without it the dataset's own splits are mapped by name
(``validation``/``valid``/``val``/``dev`` → val). Outcomes:

* train, val and test all found → explicit splits;
* train and test but no val → val is carved out of train by hash of the document id
  (``val_fraction``), so the official test split stays untouched;
* anything else (a single split, ``splits: {all: ...}``, train + val) → ``{"all": ...}`` pooled, and
  the corpus spec's fractions split it by hash.

Streaming is off: the corpus is materialised so that the split and every downstream key are exact.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from harness.corpus.base import SPLITS, CorpusSource, Document, SourceParams, corpus_sources, split_of
from harness.errors import MissingPathError, PlanevalError

_ALIASES = {
    "train": ("train",),
    "val": ("validation", "valid", "val", "dev"),
    "test": ("test",),
}
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://")
_MAGIC = re.compile(r"[*?\[]")


def _local_files(data_files: Any) -> list[str]:
    """The plain local paths named in ``data_files`` (URLs and glob patterns are left to datasets)."""
    if data_files is None:
        return []
    if isinstance(data_files, str):
        return [] if _URL.match(data_files) or _MAGIC.search(data_files) else [data_files]
    if isinstance(data_files, dict):
        return [p for v in data_files.values() for p in _local_files(v)]
    return [p for v in data_files for p in _local_files(v)]


@corpus_sources.register("hf")
class HFSource(CorpusSource):
    """Documents from ``datasets.load_dataset(name, config, ...)``."""

    class Params(SourceParams):
        name: str
        config: str | None = None
        text_field: str = "text"
        id_field: str | None = None
        splits: dict[Literal["train", "val", "test", "all"], str] | None = None
        data_files: str | list[str] | dict[str, str | list[str]] | None = None
        data_dir: str | None = None
        revision: str | None = None
        cache_dir: str | None = None
        max_docs: int | None = Field(None, ge=1, description="first N documents of each split")
        val_fraction: float = Field(0.05, gt=0, lt=1, description="carved from train when there is no val")

        @model_validator(mode="after")
        def _split_names(self) -> HFSource.Params:
            if self.splits is not None:
                keys = set(self.splits)
                if "all" in keys and len(keys) > 1:
                    raise ValueError("splits: 'all' cannot be combined with train/val/test")
                if "all" not in keys and "train" not in keys:
                    raise ValueError("splits needs 'train' (or a single 'all')")
            return self

    params: Params

    def _load(self, split: str | None) -> Any:
        import datasets  # heavy import: only when this source is used

        p = self.params
        try:
            return datasets.load_dataset(
                p.name,
                p.config,
                split=split,
                data_files=p.data_files,
                data_dir=p.data_dir,
                revision=p.revision,
                cache_dir=p.cache_dir,
                streaming=False,
            )
        except (FileNotFoundError, ValueError, ConnectionError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PlanevalError(f"hf dataset {p.name!r} (split {split or 'all'}): {first}") from exc

    def _docs(self, ds: Any, split_name: str) -> list[Document]:
        p = self.params
        if p.max_docs is not None and len(ds) > p.max_docs:
            ds = ds.select(range(p.max_docs))
        for col in (p.text_field, p.id_field):
            if col is not None and col not in ds.column_names:
                raise PlanevalError(
                    f"hf dataset {p.name!r} split {split_name}: no column {col!r} "
                    f"(columns: {', '.join(ds.column_names)})"
                )
        texts = ds[p.text_field]
        ids = (
            [str(i) for i in ds[p.id_field]] if p.id_field else [f"{split_name}-{i}" for i in range(len(ds))]
        )
        return [
            Document(id=i, text=t, meta={"split": split_name})
            for i, t in zip(ids, texts, strict=True)
            if isinstance(t, str) and t.strip()
        ]

    def check(self) -> None:
        """Local ``data_files`` exist (the Hub is not contacted while planning)."""
        for f in _local_files(self.params.data_files):
            if not Path(f).expanduser().exists():
                raise MissingPathError(f"{f}: no such file (hf data_files)")

    def load(self, seed: int) -> dict[str, list[Document]]:
        p = self.params
        self.check()
        if p.splits is not None:
            found = {ours: self._docs(self._load(theirs), theirs) for ours, theirs in p.splits.items()}
        else:
            dd = self._load(None)
            found = {}
            for ours, names in _ALIASES.items():
                name = next((n for n in names if n in dd), None)
                if name is not None:
                    found[ours] = self._docs(dd[name], name)
            if not found and len(dd) == 1:
                only = next(iter(dd))
                found["all"] = self._docs(dd[only], only)
            if not found:
                raise PlanevalError(
                    f"hf dataset {p.name!r}: no train/validation/test split (has: {', '.join(dd)}); "
                    "name them with the splits param"
                )
        return self._arrange(found, seed)

    def _arrange(self, found: dict[str, list[Document]], seed: int) -> dict[str, list[Document]]:
        if "all" in found:
            return {"all": found["all"]}
        if set(found) == set(SPLITS):
            return found
        if "train" in found and "test" in found:
            train, val = [], []
            for d in found["train"]:
                (val if split_of(d.id, seed, self.params.val_fraction, 0.0) == "val" else train).append(d)
            return {"train": train, "val": val, "test": found["test"]}
        docs = [d for s in SPLITS if s in found for d in found[s]]
        return {"all": docs}
