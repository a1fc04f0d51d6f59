"""Local files as a corpus: plain text, JSON Lines or Parquet.

``path`` is a file, a folder (every file matching ``glob`` under it, sorted) or a glob pattern; or
``splits`` names one such path per split when the data comes pre-split. Document ids are the file's
path relative to the root it was found under (plus a record or block number), so they are stable
across machines and the hash split does not depend on where the data sits.
"""

from __future__ import annotations

import glob as globlib
import json
import re
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

import pyarrow.parquet as pq
from pydantic import Field, model_validator

from harness.corpus.base import SPLITS, CorpusSource, Document, SourceParams, corpus_sources
from harness.errors import MissingPathError, PlanevalError
from harness.hashing import file_digest, stable_hash
from harness.paths import local_path

SplitName = Literal["train", "val", "test"]
_MAGIC = re.compile(r"[*?\[]")


class FileParams(SourceParams):
    path: str | None = None
    splits: dict[SplitName, str] | None = Field(None, description="one path per split, instead of path")
    glob: str | None = Field(None, description="pattern for files inside a folder (default per format)")
    max_docs: int | None = Field(None, ge=1, description="first N documents (per split with splits)")

    @model_validator(mode="after")
    def _one_location(self) -> FileParams:
        if (self.path is None) == (self.splits is None):
            raise ValueError("give exactly one of path or splits")
        if self.splits is not None and set(self.splits) != set(SPLITS):
            raise ValueError(f"splits needs all of {', '.join(SPLITS)}; got {', '.join(self.splits)}")
        return self


def resolve_files(spec: str, default_glob: str, source: str) -> list[tuple[Path, str]]:
    """``(file, id prefix)`` pairs for a file, a folder or a glob pattern, sorted for determinism."""
    path = local_path(spec)
    if _MAGIC.search(str(path)):
        parts = path.parts
        k = next(i for i, part in enumerate(parts) if _MAGIC.search(part))
        root = Path(*parts[:k]) if k else Path(".")
        files = sorted(Path(f) for f in globlib.glob(str(path), recursive=True) if Path(f).is_file())
        if not files:
            raise MissingPathError(f"{spec} ({path}): no files match (corpus source {source!r})")
        return [(f, f.relative_to(root).as_posix()) for f in files]
    shown = spec if str(path) == spec else f"{spec} ({path})"
    if not path.exists():
        raise MissingPathError(f"{shown}: no such file or folder (corpus source {source!r})")
    if path.is_file():
        return [(path, path.name)]
    files = sorted(f for f in path.glob(default_glob) if f.is_file())
    if not files:
        raise MissingPathError(
            f"{shown}: folder has no files matching {default_glob!r} (corpus source {source!r})"
        )
    return [(f, f.relative_to(path).as_posix()) for f in files]


class FileSource(CorpusSource):
    """Shared logic: locate the files, read documents from each, cap at ``max_docs``."""

    Params: ClassVar[type[FileParams]] = FileParams
    default_glob: ClassVar[str] = "*"
    name: ClassVar[str] = "files"
    params: FileParams

    @abstractmethod
    def read(self, path: Path, rel: str) -> Iterator[Document]:
        """The documents in one file; ``rel`` is its stable name for document ids."""

    def _docs(self, spec: str, prefix: str = "") -> list[Document]:
        out: list[Document] = []
        for path, rel in resolve_files(spec, self.params.glob or self.default_glob, self.name):
            for doc in self.read(path, prefix + rel):
                out.append(doc)
                if self.params.max_docs is not None and len(out) >= self.params.max_docs:
                    return out
        return out

    def _locations(self) -> dict[str, str]:
        if self.params.splits is not None:
            return dict(self.params.splits)
        assert self.params.path is not None
        return {"all": self.params.path}

    def check(self) -> None:
        """Every named file, folder or pattern resolves to at least one file."""
        for spec in self._locations().values():
            resolve_files(spec, self.params.glob or self.default_glob, self.name)

    def fingerprint(self) -> str:
        """Each file's id (its path below the root it was named by) and bytes — not where the root is,
        so the same data under another folder or data root has the same key."""
        files = [
            (rel, f)
            for spec in self._locations().values()
            for f, rel in resolve_files(spec, self.params.glob or self.default_glob, self.name)
        ]
        return stable_hash([(rel, file_digest(f)) for rel, f in files])

    def load(self, seed: int) -> dict[str, list[Document]]:
        return {
            split: self._docs(spec, prefix="" if split == "all" else f"{split}/")
            for split, spec in self._locations().items()
        }


@corpus_sources.register("text")
class TextSource(FileSource):
    """Plain UTF-8 text: one document per file, or many separated by ``doc_separator`` (a regular
    expression, e.g. ``\\n\\s*\\n`` for blank lines). Blank documents are dropped."""

    class Params(FileParams):
        doc_separator: str | None = None
        encoding: str = "utf-8"

    params: Params
    default_glob = "*.txt"
    name = "text"

    def read(self, path: Path, rel: str) -> Iterator[Document]:
        text = path.read_text(encoding=self.params.encoding)
        if self.params.doc_separator is None:
            if text.strip():
                yield Document(id=rel, text=text, meta={"file": str(path)})
            return
        blocks = [b.strip() for b in re.split(self.params.doc_separator, text)]
        for i, block in enumerate(b for b in blocks if b):
            yield Document(id=f"{rel}#{i}", text=block, meta={"file": str(path)})


class RecordParams(FileParams):
    text_field: str = "text"
    id_field: str | None = None


class RecordSource(FileSource):
    """Records with a text field and an optional id field; a record without text is an error."""

    Params: ClassVar[type[RecordParams]] = RecordParams
    params: RecordParams

    def _doc(self, record: dict, where: str, rel: str, i: int) -> Document | None:
        p = self.params
        if p.text_field not in record:
            raise PlanevalError(f"{where}: no field {p.text_field!r} (fields: {', '.join(map(str, record))})")
        text = record[p.text_field]
        if not isinstance(text, str):
            raise PlanevalError(f"{where}: field {p.text_field!r} is {type(text).__name__}, not text")
        if not text.strip():
            return None
        if p.id_field is not None:
            if record.get(p.id_field) is None:
                raise PlanevalError(f"{where}: no id field {p.id_field!r}")
            doc_id = str(record[p.id_field])
        else:
            doc_id = f"{rel}:{i}"
        return Document(id=doc_id, text=text, meta={"file": rel})


@corpus_sources.register("jsonl")
class JsonlSource(RecordSource):
    """JSON Lines: one object per line (blank lines skipped)."""

    default_glob = "*.jsonl"
    name = "jsonl"

    def read(self, path: Path, rel: str) -> Iterator[Document]:
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{path}:{line_no}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise PlanevalError(f"{where}: invalid JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise PlanevalError(f"{where}: expected a JSON object, got {type(record).__name__}")
                doc = self._doc(record, where, rel, line_no)
                if doc is not None:
                    yield doc


@corpus_sources.register("parquet")
class ParquetSource(RecordSource):
    """Parquet: reads only the text (and id) columns, one row group at a time."""

    default_glob = "*.parquet"
    name = "parquet"

    def read(self, path: Path, rel: str) -> Iterator[Document]:
        p = self.params
        f = pq.ParquetFile(path)
        names = f.schema_arrow.names
        columns = [c for c in (p.text_field, p.id_field) if c is not None]
        missing = [c for c in columns if c not in names]
        if missing:
            raise PlanevalError(f"{path}: no column {missing[0]!r} (columns: {', '.join(names)})")
        row = 0
        for batch in f.iter_batches(columns=columns):
            for record in batch.to_pylist():
                doc = self._doc(record, f"{path}: row {row}", rel, row)
                row += 1
                if doc is not None:
                    yield doc
