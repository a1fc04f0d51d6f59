"""The floor every LM must beat: add-α smoothed unigram frequencies of the training split's tokens.

``p(v) = (count(v) + α) / (N + α·V)`` over the tokenizer's whole vocabulary (``V = len(tokenizer)``),
where ``count`` runs over the document tokens of the training split (the prefix token that precedes a
document is never scored, so it is not counted). The model ignores context: every token of a document
gets ``log p(token)``, and generation draws tokens independently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer

from harness.adapters import Generation, PlanevalLM, SpanRequest, SpanScores
from harness.sampling import Sampling
from trainers.base import TRAINERS, TrainContext, Trainer, TrainerConfig


class UnigramConfig(TrainerConfig):
    alpha: float = Field(1.0, gt=0, description="add-α smoothing")


def count_tokens(texts: Sequence[str], tokenizer: Any) -> np.ndarray:
    """Token counts over the vocabulary (``len(tokenizer)`` entries)."""
    counts = np.zeros(len(tokenizer), dtype=np.int64)
    if texts:
        encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        ids = np.concatenate([np.asarray(e, dtype=np.int64) for e in encoded])
        counts += np.bincount(ids, minlength=len(counts))[: len(counts)]
    return counts


class UnigramLM(PlanevalLM):
    """A context-free token distribution as a ``PlanevalLM``."""

    def __init__(self, counts: np.ndarray, alpha: float, tokenizer: Any, identity: str) -> None:
        super().__init__()
        counts = np.asarray(counts, dtype=np.float64)
        self.alpha = float(alpha)
        self.logp = np.log(counts + alpha) - np.log(counts.sum() + alpha * len(counts))
        self._argmax = int(np.argmax(self.logp))
        self._tokenizer = tokenizer
        self.identity = identity

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def max_length(self) -> int:
        return 1_000_000  # no context limit: a whole document is one window

    @property
    def prefix_token_id(self) -> int:
        return int(self._tokenizer.eos_token_id)

    def score_spans(self, requests: Sequence[SpanRequest], *, progress: bool = False) -> list[SpanScores]:
        out = []
        for req in requests:
            ids = np.asarray(req.ids[len(req.ids) - req.n_score :], dtype=np.int64)
            out.append(SpanScores(self.logp[ids], ids == self._argmax))
        return out

    def distribution(self, temperature: float, top_k: int | None, top_p: float | None) -> np.ndarray:
        """Sampling probabilities after temperature, top-k and nucleus filtering."""
        logits = self.logp / temperature
        probs = np.exp(logits - logits.max())
        if top_k:
            probs[np.argsort(-probs, kind="stable")[top_k:]] = 0.0
        if top_p is not None and top_p < 1.0:
            order = np.argsort(-probs, kind="stable")
            cum = np.cumsum(probs[order]) / probs.sum()
            probs[order[1:][cum[:-1] >= top_p]] = 0.0  # keep the smallest head reaching top_p
        return probs / probs.sum()

    def generate(
        self, prompts: Sequence[str], sampling: Sampling, *, progress: bool = False
    ) -> list[Generation]:
        """Independent draws; prompt ``i`` uses a generator seeded by ``(sampling.seed, i)``; EOS ends a
        text (or, with ``stop_at_eos=False``, is never drawn)."""
        eos = self._tokenizer.eos_token_id
        max_new_tokens, seed, stop = sampling.max_new_tokens, sampling.seed, sampling.stop
        probs = None
        if sampling.temperature > 0:
            probs = self.distribution(sampling.temperature, sampling.top_k, sampling.top_p)
        if probs is not None and not sampling.stop_at_eos:
            probs = probs.copy()
            probs[eos] = 0.0
            probs /= probs.sum()
        out = []
        for i in range(len(prompts)):
            if probs is None:
                ids = [self._argmax] * max_new_tokens
            else:
                rng = np.random.default_rng([seed & 0xFFFFFFFF, i])
                ids = rng.choice(len(probs), size=max_new_tokens, p=probs).tolist()
            finish = "length"
            if eos in ids:
                ids, finish = ids[: ids.index(eos)], "eos"
            text = self._tokenizer.decode(ids, skip_special_tokens=True)
            cut = min((text.find(s) for s in stop if s and s in text), default=-1)
            if cut >= 0:
                text, finish = text[:cut], "stop"
                ids = self._through_stop(ids, stop)
            out.append(Generation(text, ids, meta={"finish": finish}))
        return out

    def _through_stop(self, ids: list[int], stop: Sequence[str]) -> list[int]:
        """The shortest prefix of ``ids`` whose text contains a stop string (as the HF adapter keeps)."""
        for k in range(1, len(ids) + 1):
            text = self._tokenizer.decode(ids[:k], skip_special_tokens=True)
            if any(s and s in text for s in stop):
                return ids[:k]
        return ids


@TRAINERS.register("unigram")
class UnigramTrainer(Trainer):
    """Counts the training split's tokens; the artifact is the counts, the tokenizer and a summary."""

    Config = UnigramConfig
    version = "1"

    def train(self, ctx: TrainContext) -> None:
        cfg: UnigramConfig = ctx.config
        counts = count_tokens([d.text for d in ctx.corpus.train], ctx.tokenizer)
        save_file({"counts": torch.from_numpy(counts)}, str(ctx.out_dir / "counts.safetensors"))
        ctx.tokenizer.save_pretrained(ctx.out_dir / "tokenizer")
        summary = {
            "variant": ctx.variant.model_dump(mode="json"),
            "config": cfg.model_dump(mode="json"),
            "seed": ctx.seed,
            "alpha": cfg.alpha,
            "n_tokens": int(counts.sum()),
            "vocab_size": len(counts),
            "unseen_tokens": int((counts == 0).sum()),
        }
        (ctx.out_dir / "training.json").write_text(json.dumps(summary, indent=2))
        ctx.log(f"[unigram] {summary['n_tokens']} tokens over a vocabulary of {len(counts)}")

    def load(self, artifact_dir: Path, identity: str) -> UnigramLM:
        artifact_dir = Path(artifact_dir)
        counts = load_file(str(artifact_dir / "counts.safetensors"))["counts"].numpy()
        alpha = json.loads((artifact_dir / "training.json").read_text())["alpha"]
        tokenizer = AutoTokenizer.from_pretrained(artifact_dir / "tokenizer")
        return UnigramLM(counts, alpha, tokenizer, identity)
