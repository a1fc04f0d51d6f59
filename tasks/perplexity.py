"""Perplexity and bits-per-byte (docs/tasks/perplexity.md).

``evaluate`` scores every token of each held-out document once, in ``paper`` windows (stride 1,
exactly the previous ≤ window-1 tokens as context, paper A) or ``rolling`` windows (disjoint, as
lm-eval's ``loglikelihood_rolling``), and keeps per-document sums so that ``aggregate`` can
micro-average — ``exp(Σ nll / Σ tokens)`` — over any bootstrap resample of the documents.

``encoding`` says how a document becomes tokens, and is stored with every run (it is a param):
``lm-eval`` encodes as lm-eval's ``HFLM`` (the tokenizer's own special tokens: a Llama-style tokenizer's
BOS is then a scored token, as in lm-eval, so rolling mode equals ``HFLM.loglikelihood_rolling`` for
every tokenizer); ``plain`` adds no special tokens. The default is ``lm-eval`` in rolling mode and
``plain`` in paper mode (paper A's windows score the document's own tokens). For a tokenizer that adds
no special tokens (GPT-2's, planeval's BPE) the two are the same ids and the same numbers.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from harness.adapters import PlanevalLM
from harness.scoring import Scores
from tasks.base import TASKS, MetricInfo, Task, TaskContext, TaskParams

#: paper A's window: 127 tokens of context + the scored token
PAPER_WINDOW = 128


class PerplexityParams(TaskParams):
    mode: Literal["paper", "rolling"] = "paper"
    #: tokens per window including the scored token (paper; default 128) or the longest model input
    #: (rolling; default the model's ``max_length``)
    window: int | None = Field(None, ge=2)
    split: Literal["val", "test"] = "test"
    max_docs: int | None = Field(None, ge=1)
    #: ``lm-eval`` (lm-eval HFLM's encoding) or ``plain`` (no special tokens); default by mode, see above
    encoding: Literal["lm-eval", "plain"] = "plain"

    @model_validator(mode="before")
    @classmethod
    def _default_encoding(cls, data: Any) -> Any:
        """Resolve the mode's default before validation, so the stored params name the encoding used."""
        if isinstance(data, dict) and data.get("encoding") is None:
            data = {**data, "encoding": "lm-eval" if data.get("mode") == "rolling" else "plain"}
        return data


@TASKS.register("perplexity")
class Perplexity(Task):
    """Token-level perplexity of the held-out documents, micro-averaged over tokens."""

    Params = PerplexityParams
    limit_params = ("max_docs",)
    version = "2"  # 2: the encoding param (lm-eval's by default in rolling mode)
    metrics = {
        "perplexity": MetricInfo(
            higher_is_better=False, description="exp(Σ NLL / Σ tokens) over all scored tokens", fmt=".2f"
        ),
        "nll_per_token": MetricInfo(
            higher_is_better=False, description="mean negative log-likelihood per token (nats)", fmt=".4f"
        ),
        "bits_per_byte": MetricInfo(
            higher_is_better=False,
            description="Σ NLL / Σ UTF-8 bytes / ln 2 (compares across tokenizers)",
            fmt=".4f",
        ),
    }

    def evaluate(self, model: PlanevalLM, ctx: TaskContext) -> pd.DataFrame:
        params: PerplexityParams = ctx.params
        docs = ctx.corpus.split(params.split)
        if params.max_docs is not None:
            docs = docs[: params.max_docs]
        window = self._window(model, params)
        texts = [d.text for d in docs]
        if "token_scores" not in model.capabilities:  # an lm-eval LM: its own loglikelihood_rolling
            scored = model.rolling_loglikelihoods(texts, progress=ctx.progress)  # (planning checked needs)
        else:
            # each window's request carries its document's text (SpanRequest.document): a planner adapter
            # conditions on the document's sentences from it, a plain LM ignores it; an engine score
            # request, cached per model key, windowing and documents (harness.scoring)
            logprobs = Scores(model, ctx.cache, ctx.model_key, ctx.progress).token_logprobs(
                [d.id for d in docs], texts, mode=params.mode, window=window, encoding=params.encoding
            )
            scored = [(float(np.sum(lp, dtype=np.float64)), len(lp)) for lp in logprobs]
        return pd.DataFrame(
            {
                "sample_id": [d.id for d in docs],
                "n_tokens": np.array([n for _, n in scored], dtype=np.int64),
                "nll": np.array([-ll for ll, _ in scored]),
                "n_bytes": np.array([len(t.encode("utf-8")) for t in texts], dtype=np.int64),
            }
        )

    def needs(self, params: PerplexityParams) -> frozenset[str]:
        """Rolling windows of the model's whole context in lm-eval's encoding are lm-eval's
        ``loglikelihood_rolling``; paper windows, a chosen window or the plain encoding need per-token
        scores of arbitrary spans."""
        if params.mode == "rolling" and params.window is None and params.encoding == "lm-eval":
            return frozenset({"rolling_loglikelihood"})
        return frozenset({"token_scores"})

    def context_needs(self, params: PerplexityParams) -> dict[str, int]:
        """Checked at plan time against every model (the same rule as ``_window`` at run time)."""
        if params.mode == "paper":
            return {"window": (params.window or PAPER_WINDOW) - 1}
        return {"window": params.window} if params.window else {}

    @staticmethod
    def _window(model: PlanevalLM, params: PerplexityParams) -> int:
        """The window to score with; refuse one the model cannot take rather than let the adapter
        shorten it silently (a paper-mode score with less context is a different number)."""
        if params.mode == "paper":
            window = params.window or PAPER_WINDOW
            if window - 1 > model.max_length:
                raise ValueError(
                    f"paper-mode window {window} needs {window - 1} tokens of input but the model "
                    f"takes at most {model.max_length}; set params.window <= {model.max_length + 1}"
                )
            return window
        window = params.window or model.max_length
        if window > model.max_length:
            raise ValueError(f"rolling window {window} exceeds the model's max_length {model.max_length}")
        return window

    def aggregate(self, samples: pd.DataFrame, params: PerplexityParams) -> dict[str, float]:
        nll = float(samples["nll"].sum())
        n_tokens = int(samples["n_tokens"].sum())
        n_bytes = int(samples["n_bytes"].sum())
        per_token = nll / n_tokens if n_tokens else math.nan
        return {
            "perplexity": math.exp(per_token) if n_tokens else math.nan,
            "nll_per_token": per_token,
            "bits_per_byte": nll / n_bytes / math.log(2) if n_bytes else math.nan,
        }
