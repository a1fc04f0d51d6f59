"""(source, reference) pairs from JSON Lines as a corpus: summarisation data such as CNN/DM or XSum.

Each record becomes a document whose text is the source (``text_field``, default ``article``) and whose
``meta`` keeps the reference (``reference_field``, default ``reference``) under the key ``reference``,
so the ``summarization`` task and the reward-weighted trainer can read it. Everything else (files,
folders, globs, ``splits``, ``max_docs``, ids, fingerprints) is the ``jsonl`` source's; this module only
adds the reference, which the plain ``jsonl`` source drops. A record without a reference is an error.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from harness.corpus.base import Document, corpus_sources
from harness.corpus.files import JsonlSource, RecordParams
from harness.errors import PlanevalError

REFERENCE = "reference"


class PairParams(RecordParams):
    text_field: str = "article"
    reference_field: str = Field(REFERENCE, description="field holding the reference (e.g. the summary)")


@corpus_sources.register("pairs")
class PairsSource(JsonlSource):
    """JSON Lines of (source, reference) records; the reference goes to ``Document.meta['reference']``."""

    Params: ClassVar[type[PairParams]] = PairParams
    params: PairParams
    name = "pairs"

    def _doc(self, record: dict, where: str, rel: str, i: int) -> Document | None:
        doc = super()._doc(record, where, rel, i)
        if doc is None:
            return None
        ref = record.get(self.params.reference_field)
        if not isinstance(ref, str) or not ref.strip():
            raise PlanevalError(f"{where}: no reference text in field {self.params.reference_field!r}")
        return Document(id=doc.id, text=doc.text, meta={**doc.meta, REFERENCE: ref})
