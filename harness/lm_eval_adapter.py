"""Any lm-evaluation-harness ``LM`` as a planeval model (``lm-eval:<model>,<model_args>`` variants).

lm-eval's interface is narrower than planeval's: a document's summed log-likelihood in rolling windows
(``loglikelihood_rolling``) and greedy generation to a stop string (``generate_until``), no per-token
scores of arbitrary spans, no seeded sampling, no plans or hidden states. So this adapter declares only
``rolling_loglikelihood`` (where the model can count the tokens it scores: a ``TemplateLM``) and
``greedy_generation``; planning refuses the tasks that need more (docs/interop.md). lm-eval's own calls
(``loglikelihood``, ``loglikelihood_rolling``, ``generate_until``) go to the wrapped model unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lm_eval.api.instance import Instance
from lm_eval.api.model import LM

from harness.adapters import Generation, PlanevalLM, SpanRequest, SpanScores
from harness.errors import PlanevalError
from harness.sampling import Sampling


def lm_eval_capabilities(model_cls: type) -> frozenset[str]:
    """What an lm-eval model class can serve: greedy ``generate_until`` always; rolling log-likelihoods
    when it can count the tokens it scores (``tok_encode``, as every ``TemplateLM`` has)."""
    caps = {"greedy_generation"}
    if callable(getattr(model_cls, "tok_encode", None)):
        caps.add("rolling_loglikelihood")
    return frozenset(caps)


class LMEvalModel(PlanevalLM):
    """An ``lm_eval.api.model.LM`` behind planeval's model API (only what lm-eval's interface gives)."""

    def __init__(self, lm: LM, identity: str, capabilities: frozenset[str]) -> None:
        super().__init__()
        self.lm = lm
        self.identity = identity
        self.capabilities = capabilities  # type: ignore[misc]  # per instance: it depends on the class

    def settings(self) -> dict[str, Any]:
        """lm-eval's resolved window, batch size and device, where the model has them."""
        out: dict[str, Any] = {"model": type(self.lm).__name__}
        for attr in ("max_length", "batch_size", "device"):
            value = getattr(self.lm, attr, None)
            if value is not None:
                out[attr] = value if isinstance(value, (int, float)) else str(value)
        model = getattr(self.lm, "model", None)
        dtype = getattr(model, "dtype", None)
        if dtype is not None:
            out["dtype"] = str(dtype).removeprefix("torch.")
        return out

    # -- what the wrapped model has --------------------------------------------------------------
    def _need(self, attr: str, why: str) -> Any:
        value = getattr(self.lm, attr, None)
        if value is None:
            raise PlanevalError(
                f"{self.identity}: the lm-eval model {type(self.lm).__name__} has no {attr} ({why})"
            )
        return value

    @property
    def tokenizer(self) -> Any:
        return self._need("tokenizer", "needed to count or cut generated tokens")

    @property
    def max_length(self) -> int:
        return int(getattr(self.lm, "max_length", None) or 2048)

    @property
    def prefix_token_id(self) -> int:
        return int(self._need("prefix_token_id", "the token put before an empty prompt"))

    def encode(self, text: str) -> list[int]:
        tok_encode = getattr(self.lm, "tok_encode", None)
        if tok_encode is not None:
            return list(tok_encode(text, add_special_tokens=False))
        return super().encode(text)

    # -- planeval's primitives: what lm-eval's interface cannot give ------------------------------
    def score_spans(self, requests: Sequence[SpanRequest], *, progress: bool = False) -> list[SpanScores]:
        raise PlanevalError(
            f"{self.identity}: lm-eval models give no per-token scores (capability token_scores); "
            "planning should have refused this task"
        )

    def rolling_loglikelihoods(
        self, texts: Sequence[str], *, progress: bool = False
    ) -> list[tuple[float, int]]:
        """lm-eval's ``loglikelihood_rolling`` of each document and the tokens it scored (its whole
        ``tok_encode``: the prefix token is context, every other token a target)."""
        tok_encode = self._need("tok_encode", "perplexity needs the number of scored tokens")
        requests = [Instance("loglikelihood_rolling", {}, (text,), i) for i, text in enumerate(texts)]
        sums = self.lm.loglikelihood_rolling(requests)
        return [(float(ll), len(tok_encode(text))) for ll, text in zip(sums, texts, strict=True)]

    def generate(
        self, prompts: Sequence[str], sampling: Sampling, *, progress: bool = False
    ) -> list[Generation]:
        """Greedy ``generate_until`` (stop strings, ``max_new_tokens``); the token ids are the text
        re-encoded by the model's tokenizer. An empty prompt is the prefix token's text, as planeval's
        own models start every generation with that token."""
        if sampling.temperature != 0 or not sampling.stop_at_eos:
            raise PlanevalError(
                f"{self.identity}: lm-eval models decode greedily to a stop string or end of text "
                "(capability sampling is missing); planning should have refused this task"
            )
        gen_kwargs = {
            "until": list(sampling.stop),
            "max_gen_toks": sampling.max_new_tokens,
            "do_sample": False,
        }
        start = self.tokenizer.decode([self.prefix_token_id]) if any(not p for p in prompts) else ""
        requests = [
            Instance("generate_until", {}, (prompt or start, dict(gen_kwargs)), i)
            for i, prompt in enumerate(prompts)
        ]
        texts = self.lm.generate_until(requests)
        return [Generation(text, self.encode(text), meta={"finish": "lm-eval"}) for text in texts]

    # -- lm-eval's interface: the wrapped model's own --------------------------------------------
    def loglikelihood(self, requests: list[Any]) -> list[tuple[float, bool]]:
        return self.lm.loglikelihood(requests)

    def loglikelihood_rolling(self, requests: list[Any]) -> list[float]:
        return self.lm.loglikelihood_rolling(requests)

    def generate_until(self, requests: list[Any]) -> list[str]:
        return self.lm.generate_until(requests)
