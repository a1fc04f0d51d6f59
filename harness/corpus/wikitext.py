"""WikiText (raw or tokenised) as a corpus of whole articles.

An article starts at a top-level heading line `` = Title = `` (regex ``^ = [^=].* = $`` on the line
without its ending; section headings ``= = … = =`` do not match) and runs to the next one. Its text is
the exact slice of the file, with CRLF normalised to ``\\n``.

Splits (``splits`` param): ``files`` uses ``wiki.{train,valid,test}.<suffix>`` as train/val/test and
needs all three; ``hash`` pools the articles of every file present and lets the corpus spec's
fractions split them by hash of the article id; ``auto`` (default) is ``files`` when all three files
exist and ``hash`` otherwise. The hash fallback was chosen over promoting valid to train because it
keeps train, val and test from one distribution and keeps ``CorpusSpec`` fractions meaningful;
ids name the file an article came from (``valid-0007``), so one can still tell them apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field

from harness.corpus.base import CorpusSource, Document, SourceParams, corpus_sources
from harness.errors import MissingPathError
from harness.hashing import file_digest, stable_hash
from harness.paths import local_path

HEADING = re.compile(r"^ = [^=].* = $")
FILE_SPLITS = {"train": "train", "val": "valid", "test": "test"}


def read_articles(path: Path, stem: str) -> list[Document]:
    """The articles of one WikiText file; ids are ``<stem>-<index>`` (stem: train/valid/test)."""
    text = path.read_bytes().decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if HEADING.match(line.rstrip("\n"))]
    docs: list[Document] = []
    preamble = "".join(lines[: starts[0]] if starts else lines)
    if preamble.strip():  # text before the first heading (absent in the released files)
        docs.append(Document(id=f"{stem}-preamble", text=preamble, meta={"title": ""}))
    for n, (a, b) in enumerate(zip(starts, [*starts[1:], len(lines)], strict=True)):
        title = lines[a].strip().strip("=").strip()
        docs.append(Document(id=f"{stem}-{n:04d}", text="".join(lines[a:b]), meta={"title": title}))
    return docs


@corpus_sources.register("wikitext")
class WikiTextSource(CorpusSource):
    """WikiText-2/103 articles from a folder holding ``wiki.{train,valid,test}.raw``."""

    class Params(SourceParams):
        path: str
        suffix: str = Field("raw", description="raw or tokens")
        splits: Literal["auto", "files", "hash"] = "auto"
        max_docs: int | None = Field(None, ge=1, description="first N articles of each file")

    params: Params

    def _files(self) -> tuple[dict[str, Path], dict[str, Path]]:
        """(expected, present) split files; raises when the requested splits cannot be met."""
        p = self.params
        folder = local_path(p.path)
        if not folder.is_dir():
            shown = p.path if str(folder) == p.path else f"{p.path} ({folder})"
            raise MissingPathError(f"{shown}: no such folder (corpus source 'wikitext')")
        files = {s: folder / f"wiki.{stem}.{p.suffix}" for s, stem in FILE_SPLITS.items()}
        present = {s: f for s, f in files.items() if f.is_file()}
        if not present:
            raise MissingPathError(
                f"{folder}: no wiki.{{train,valid,test}}.{p.suffix} files (corpus source 'wikitext')"
            )
        if p.splits == "files" and len(present) < len(files):
            missing = next(f for s, f in files.items() if s not in present)
            raise MissingPathError(f"{missing}: no such file (wikitext splits: files needs all three)")
        return files, present

    def check(self) -> None:
        self._files()

    def fingerprint(self) -> str:
        # the files' names and bytes, not where their folder is (the same data elsewhere: the same key)
        return stable_hash(sorted((f.name, file_digest(f)) for f in self._files()[1].values()))

    def load(self, seed: int) -> dict[str, list[Document]]:
        p = self.params
        files, present = self._files()
        parts = {s: read_articles(f, FILE_SPLITS[s])[: p.max_docs] for s, f in present.items()}
        if p.splits == "hash" or len(present) < len(files):
            return {"all": [d for s in FILE_SPLITS if s in parts for d in parts[s]]}
        return parts
