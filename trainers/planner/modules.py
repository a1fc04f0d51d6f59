"""The planner and the action conditioning of the LM (docs/families/planner.md).

* ``Planner``: preceding sentence embeddings + sinusoidal positions → linear → a small transformer
  encoder → mean-pool → logits over the K actions (head initialised with the codebook).
* ``select``: logits → mixing weights over the codebook (hard / soft / straight-through / uniform).
* ``ActionConditioner``: per conditioned layer a trainable codebook copy and a projection; forward
  pre-hooks on the attention output projection (GPT-2 ``attn.c_proj``, Llama/OLMo ``self_attn.o_proj``)
  add ``proj(weights @ codebook)`` to the merged heads. The base model's code is not copied or patched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

# -- selection -----------------------------------------------------------------------------------


def _hard(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)


def _soft(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return torch.softmax(logits / temperature, dim=-1)


def _straight_through(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Forward: the hard one-hot; backward: the soft gradient (``hard - p.detach() + p``)."""
    p = _soft(logits, temperature)
    return _hard(logits, temperature) - p.detach() + p


def _uniform(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """All logits 0: the codebook mean, whatever the planner says."""
    return torch.full_like(logits, 1.0 / logits.shape[-1])


SELECTIONS: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "hard": _hard,
    "soft": _soft,
    "st": _straight_through,
    "uniform": _uniform,
}


def select(logits: torch.Tensor, mode: str, temperature: float = 1.0) -> torch.Tensor:
    """Mixing weights over the codebook from planner logits (last dim = actions)."""
    try:
        fn = SELECTIONS[mode]
    except KeyError:
        raise ValueError(f"unknown selection {mode!r} (valid: {', '.join(SELECTIONS)})") from None
    return fn(logits, temperature)


# -- the planner ---------------------------------------------------------------------------------


def sinusoidal(n: int, dim: int) -> torch.Tensor:
    """The Transformer's fixed sinusoidal position table, ``(n, dim)``."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(n, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table


class Planner(nn.Module):
    """Predicts the next sentence's action from the embeddings of the preceding sentences.

    A learned ``start`` vector stands for "no sentence yet", so the first sentence is planned from it.
    """

    def __init__(
        self,
        codebook: torch.Tensor,
        d_model: int | None = None,
        n_layers: int = 1,
        n_heads: int = 2,
        max_sentences: int = 64,
        dropout: float = 0.0,
    ):
        super().__init__()
        n_actions, d_enc = codebook.shape
        d_model = d_model or d_enc
        self.max_sentences = max_sentences
        self.start = nn.Parameter(torch.zeros(d_enc))
        self.register_buffer("positions", sinusoidal(max_sentences + 1, d_enc), persistent=False)
        self.inp = nn.Linear(d_enc, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, dim_feedforward=4 * d_model, dropout=dropout, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, n_actions)
        with torch.no_grad():
            if d_model == d_enc:  # the head starts as similarity to the centroids
                self.head.weight.copy_(codebook)
            self.head.bias.zero_()

    def forward(self, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``context`` (N, S, d_enc) sentence embeddings (left-aligned, S <= ``max_sentences``),
        ``mask`` (N, S) true where a sentence is present; the start vector is prepended. → (N, K)."""
        n = context.shape[0]
        x = torch.cat([self.start.expand(n, 1, -1), context], dim=1)
        keep = torch.cat([mask.new_ones(n, 1), mask], dim=1)
        x = self.inp(x + self.positions[: x.shape[1]])
        h = self.encoder(x, src_key_padding_mask=~keep)
        pooled = (h * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)
        return self.head(pooled)

    def plan_documents(
        self, documents: list[torch.Tensor], spans: list[tuple[int, int]] | None = None
    ) -> list[torch.Tensor]:
        """``plan_document`` for many documents in one forward; with ``spans``, only rows ``lo..hi``
        (inclusive) of each document."""
        if not documents:
            return []
        context, mask, sizes = self.document_inputs(documents, spans)
        return list(torch.split(self(context, mask), sizes))

    def document_inputs(
        self, documents: list[torch.Tensor], spans: list[tuple[int, int]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """The ``forward`` inputs that plan every sentence of ``documents`` (and the one after each) and
        the rows per document. Apart from ``plan_documents`` so a wrapped planner (DDP under
        ``accelerate launch``) can run the forward itself.

        ``spans`` keeps rows ``lo..hi`` of each document: a training window of a long article reads a
        few of its sentences, and each row is planned from its own preceding sentences alone, so the
        rows kept are the rows a whole-document plan gives (the padded width is the same either way).
        """
        spans = spans if spans is not None else [(0, len(e)) for e in documents]
        width = max(max(min(len(e), self.max_sentences), 1) for e in documents)
        d_enc = documents[0].shape[1]
        sizes = [hi - lo + 1 for lo, hi in spans]
        context = documents[0].new_zeros(sum(sizes), width, d_enc)
        mask = torch.zeros(sum(sizes), width, dtype=torch.bool, device=documents[0].device)
        r = 0
        for emb, (lo, hi) in zip(documents, spans, strict=True):
            if not 0 <= lo <= hi <= len(emb):
                raise ValueError(f"rows {lo}..{hi} outside a document of {len(emb)} sentences")
            for i in range(lo, hi + 1):
                seen = emb[max(0, i - width) : i]
                context[r, : len(seen)] = seen
                mask[r, : len(seen)] = True
                r += 1
        return context, mask, sizes

    def plan_document(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Logits for every sentence of one document and for the one after it: row i is planned
        from sentences < i (at most ``max_sentences`` of them). ``(S, d_enc)`` → ``(S + 1, K)``."""
        return self.plan_documents([embeddings])[0]


# -- conditioning the LM -------------------------------------------------------------------------

#: attention output projections by architecture: GPT-2 ``h.{i}.attn.c_proj``; Llama, OLMo, Mistral,
#: Qwen … ``layers.{i}.self_attn.o_proj``
PROJECTION_PATTERNS = (
    re.compile(r"(?:^|\.)h\.(\d+)\.attn\.c_proj$"),
    re.compile(r"(?:^|\.)layers\.(\d+)\.self_attn\.o_proj$"),
)


def output_projections(model: nn.Module) -> dict[int, nn.Module]:
    """Layer index → the module that projects merged attention heads back to the residual stream."""
    found: dict[int, nn.Module] = {}
    for name, module in model.named_modules():
        for pattern in PROJECTION_PATTERNS:
            m = pattern.search(name)
            if m:
                found[int(m.group(1))] = module
    if not found:
        raise ValueError(
            f"{type(model).__name__}: no attention output projection found "
            "(supported: GPT-2 attn.c_proj, Llama/OLMo-style self_attn.o_proj)"
        )
    return dict(sorted(found.items()))


def _in_features(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return module.in_features
    weight = getattr(module, "weight", None)  # GPT-2's Conv1D stores (in, out)
    if weight is not None and weight.dim() == 2:
        return int(weight.shape[0])
    raise ValueError(f"cannot tell the input width of {type(module).__name__}")


def conditioned_layers(n_layers: int, spec: str | list[int]) -> list[int]:
    """``"last-2"`` → layers 2..n-1 (the last n-2, as paper A); ``"all"``; or explicit indices."""
    if isinstance(spec, list):
        bad = [i for i in spec if not 0 <= i < n_layers]
        if bad:
            raise ValueError(f"conditioned layers {bad} out of range for {n_layers} layers")
        return sorted(set(spec))
    if spec == "all":
        return list(range(n_layers))
    if spec == "last-2":
        return list(range(min(2, n_layers - 1), n_layers))
    raise ValueError(f"unknown layer spec {spec!r} (valid: 'last-2', 'all', or a list of indices)")


class ActionConditioner(nn.Module):
    """Per-layer codebooks and projections, and the hooks that add them to the LM.

    Set ``weights`` — ``(B, T, K)`` mixing weights over the codebook for every input token — before a
    forward; each hooked projection then sees ``merged_heads + proj_l(weights @ codebook_l)``. With
    ``weights = None`` the LM runs unconditioned. ``capture`` keeps each layer's input before and after
    the addition (the ``pre_merge`` / ``post_merge`` probe sites).
    """

    def __init__(self, lm: nn.Module, codebook: torch.Tensor, layers: list[int]):
        super().__init__()
        projections = output_projections(lm)
        missing = [i for i in layers if i not in projections]
        if missing:
            raise ValueError(f"layers {missing} have no attention output projection")
        self.layers = list(layers)
        self.codebooks = nn.ParameterDict(
            {str(i): nn.Parameter(codebook.detach().clone().float()) for i in layers}
        )
        self.projs = nn.ModuleDict()
        for i in layers:
            proj = nn.Linear(codebook.shape[1], _in_features(projections[i]))
            nn.init.xavier_normal_(proj.weight)
            nn.init.zeros_(proj.bias)
            self.projs[str(i)] = proj
        self.weights: torch.Tensor | None = None
        self.capture: dict[str, torch.Tensor] | None = None
        self._handles = [projections[i].register_forward_pre_hook(self._hook(i)) for i in layers]

    def _hook(self, layer: int) -> Callable[[nn.Module, tuple[Any, ...]], tuple[Any, ...] | None]:
        def add_plan(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
            if self.weights is None:
                return None
            merged = args[0]
            w = self.weights[:, -merged.shape[1] :]  # cached decoding feeds only the newest tokens
            emb = w.to(self.codebooks[str(layer)].dtype) @ self.codebooks[str(layer)]
            out = merged + self.projs[str(layer)](emb).to(merged.dtype)
            if self.capture is not None:
                self.capture[f"layer{layer}.pre_merge"] = merged.detach()
                self.capture[f"layer{layer}.post_merge"] = out.detach()
            return (out, *args[1:])

        return add_plan

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
