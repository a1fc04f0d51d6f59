"""GSM8K-format JSON Lines (``question``, ``answer`` ending in ``#### <number>``) as math documents.

The reference solution's lines before ``####`` are its worked steps; they are also its plan when no
better plan source is chosen (a trainer's plan source can replace it, e.g. with a teacher's). The
calculator annotations ``<<48/2=24>>`` are kept or stripped by ``annotations``; ``meta["reference"]``
always keeps the raw answer so plan sources can re-parse it either way. ``level`` is the number of
steps. Files are located as the ``jsonl`` source does (a file, a folder or a glob) and digested into
the corpus key, so editing a file rebuilds the corpus.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from harness.corpus.base import CorpusSource, Document, SourceParams, corpus_sources, split_of
from harness.corpus.files import resolve_files
from harness.errors import PlanevalError
from harness.hashing import file_digest, stable_hash

_ANNOTATION = re.compile(r"<<[^<>]*>>")
_MARKER = "####"


def strip_annotations(text: str) -> str:
    """Drop GSM8K calculator annotations: ``48/2 = <<48/2=24>>24`` → ``48/2 = 24``."""
    return _ANNOTATION.sub("", text)


def parse_gsm8k_steps(answer: str, annotations: Literal["keep", "strip"] = "strip") -> tuple[list[str], str]:
    """``(steps, gold)`` of a GSM8K answer: one step per non-empty line before the last ``####``, and
    the text after it. Raises when there is no ``####`` (every GSM8K answer has one)."""
    if _MARKER not in answer:
        raise ValueError(f"no '####' in the answer: {answer[-80:]!r}")
    body, gold = answer.rsplit(_MARKER, 1)
    if annotations == "strip":
        body = strip_annotations(body)
    steps = [" ".join(line.split()) for line in body.split("\n")]
    return [s for s in steps if s], gold.strip()


@corpus_sources.register("gsm8k-jsonl")
class GSM8KSource(CorpusSource):
    """GSM8K train/test files (or one file split by hash) as documents with plans and worked steps."""

    version = "1"

    class Params(SourceParams):
        path: str | None = Field(
            None, description="one file/folder/glob, split by hash with the corpus fractions"
        )
        train: str | None = Field(None, description="the training file (with test=): val is carved from it")
        test: str | None = None
        val_fraction: float = Field(0.05, ge=0, lt=1, description="share of train= kept for val (by hash)")
        max_docs: int | None = Field(None, ge=1, description="first N records (per file with train=/test=)")
        annotations: Literal["keep", "strip"] = "keep"

        @model_validator(mode="after")
        def _one_location(self) -> GSM8KSource.Params:
            split = self.train is not None or self.test is not None
            if (self.path is None) == (not split):
                raise ValueError("give exactly one of path or train= and test=")
            if split and (self.train is None or self.test is None):
                raise ValueError("train= and test= go together")
            return self

    params: Params

    def _locations(self) -> dict[str, str]:
        p = self.params
        if p.path is not None:
            return {"all": p.path}
        assert p.train is not None and p.test is not None
        return {"train": p.train, "test": p.test}

    def _files(self) -> dict[str, list[tuple[Path, str]]]:
        return {
            split: resolve_files(spec, "*.jsonl", "gsm8k-jsonl") for split, spec in self._locations().items()
        }

    def check(self) -> None:
        self._files()

    def fingerprint(self) -> str:
        # each file's id and bytes, not where its folder is (as the text sources)
        return stable_hash([(rel, file_digest(f)) for files in self._files().values() for f, rel in files])

    def _read(self, files: list[tuple[Path, str]], prefix: str) -> list[Document]:
        from harness.corpus.arithmetic import math_document  # the package imports this module

        out: list[Document] = []
        for path, rel in files:
            with open(path, encoding="utf-8") as f:
                for line_no, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    where = f"{path}:{line_no}"
                    try:
                        record = json.loads(line)
                        question, answer = record["question"], record["answer"]
                        steps, gold = parse_gsm8k_steps(answer, self.params.annotations)
                    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                        raise PlanevalError(f"{where}: not a GSM8K record ({exc})") from None
                    solution = answer if self.params.annotations == "keep" else strip_annotations(answer)
                    out.append(
                        math_document(
                            f"{prefix}{rel}:{line_no}",
                            question,
                            steps,
                            steps,
                            gold,
                            len(steps),
                            solution=solution.strip(),
                            reference=answer,
                        )
                    )
                    if self.params.max_docs is not None and len(out) >= self.params.max_docs:
                        return out
        return out

    def load(self, seed: int) -> dict[str, list[Document]]:
        files = self._files()
        if "all" in files:
            return {"all": self._read(files["all"], "")}
        train = self._read(files["train"], "train/")
        parts: dict[str, list[Document]] = {
            "train": [],
            "val": [],
            "test": self._read(files["test"], "test/"),
        }
        for doc in train:
            parts[
                "val" if split_of(doc.id, seed, self.params.val_fraction, 0.0) == "val" else "train"
            ].append(doc)
        return parts
