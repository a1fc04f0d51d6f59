"""Documents, corpus sources and the deterministic train/val/test split."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pandas as pd
from pydantic import BaseModel, ConfigDict

from harness.registry import Registry
from harness.specs import CorpusSpec, validate

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Document:
    """One article. ``sentences``/``actions`` are set when the source knows them (the synthetic
    corpus knows its planted writing actions: one id per sentence)."""

    id: str
    text: str
    sentences: tuple[str, ...] | None = None
    actions: tuple[int, ...] | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Corpus:
    """The three splits of a corpus, plus what built it."""

    spec: CorpusSpec
    train: list[Document]
    val: list[Document]
    test: list[Document]
    n_actions: int | None = None  # number of planted action types, when known

    def split(self, name: str) -> list[Document]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r} (valid: {', '.join(SPLITS)})")
        return getattr(self, name)

    def sizes(self) -> dict[str, int]:
        return {s: len(self.split(s)) for s in SPLITS}


class SourceParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorpusSource(ABC):
    """Produces documents. Return either ``{"all": docs}`` (split here by hash) or explicit splits
    ``{"train": ..., "val": ..., "test": ...}`` when the data comes pre-split."""

    Params: ClassVar[type[BaseModel]] = SourceParams
    version: ClassVar[str] = "1"

    def __init__(self, params: BaseModel):
        self.params = params

    @abstractmethod
    def load(self, seed: int) -> dict[str, list[Document]]: ...

    def check(self) -> None:  # noqa: B027 - optional hook
        """Cheap checks run when a suite is planned, before any work (e.g. that input paths exist)."""

    def fingerprint(self) -> str:
        """What the data is beyond the params (digests of local files), so that the corpus key
        changes when an input file is edited; empty for generated or remote (revisioned) data."""
        return ""

    def n_actions(self) -> int | None:
        return None


corpus_sources: Registry[type[CorpusSource]] = Registry(
    "corpus source", "planeval.corpus_sources", builtin_packages=("harness.corpus",)
)


def split_of(doc_id: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    """A document's split from a hash of its id: stable under reordering and under adding documents."""
    u = int(hashlib.sha256(f"{seed}:{doc_id}".encode()).hexdigest()[:12], 16) / 16**12
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def make_source(spec: CorpusSpec, where: str = "corpus", field: str = "corpus") -> CorpusSource:
    """The registered source of ``spec``; a bad param is reported at ``where``/``field``.params."""
    cls = corpus_sources.get(spec.source)
    params = validate(cls.Params, spec.params, where, prefix=f"{field}.params")
    return cls(params)


def build_corpus(spec: CorpusSpec, where: str = "corpus") -> Corpus:
    source = make_source(spec, where)
    parts = source.load(spec.seed)
    if set(parts) == {"all"}:
        splits: dict[str, list[Document]] = {s: [] for s in SPLITS}
        for doc in parts["all"]:
            splits[split_of(doc.id, spec.seed, spec.val_fraction, spec.test_fraction)].append(doc)
    else:
        missing = [s for s in SPLITS if s not in parts]
        if missing:
            raise ValueError(f"corpus source {spec.source!r} returned no {', '.join(missing)} split")
        splits = {s: list(parts[s]) for s in SPLITS}
    return Corpus(spec=spec, n_actions=source.n_actions(), **splits)


def save_corpus(corpus: Corpus, path: Path) -> None:
    rows: list[dict] = []
    for split in SPLITS:
        for d in corpus.split(split):
            rows.append(
                {
                    "split": split,
                    "id": d.id,
                    "text": d.text,
                    "sentences": list(d.sentences) if d.sentences is not None else None,
                    "actions": list(d.actions) if d.actions is not None else None,
                    "meta": json.dumps(d.meta, sort_keys=True) if d.meta else None,
                }
            )
    df = pd.DataFrame(rows, columns=["split", "id", "text", "sentences", "actions", "meta"])
    df.attrs = {}
    df.to_parquet(path, index=False)
    (path.parent / "n_actions.txt").write_text(str(corpus.n_actions or ""))


def _docs(rows: Iterable[dict]) -> list[Document]:
    out = []
    for r in rows:
        sents = r["sentences"]
        acts = r["actions"]
        out.append(
            Document(
                id=r["id"],
                text=r["text"],
                sentences=tuple(sents) if sents is not None else None,
                actions=tuple(int(a) for a in acts) if acts is not None else None,
                meta=json.loads(r["meta"]) if r.get("meta") else {},
            )
        )
    return out


def load_corpus(spec: CorpusSpec, path: Path) -> Corpus:
    df = pd.read_parquet(path)
    n_file = path.parent / "n_actions.txt"
    n = n_file.read_text().strip() if n_file.exists() else ""
    splits = {s: _docs(df[df["split"] == s].to_dict("records")) for s in SPLITS}
    return Corpus(spec=spec, n_actions=int(n) if n else None, **splits)
