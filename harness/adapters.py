"""The model API (docs/model-api.md): lm-eval's narrow ``LM`` shape plus what planner models need.

Every model a task sees is a ``PlanevalLM``. It is an ``lm_eval.api.model.LM``, so an instance can be
handed to ``lm_eval.simple_evaluate(model=...)``, and it adds:

* ``token_logprobs``: per-token log-probs of whole documents in ``paper`` or ``rolling`` windows;
* ``generate``: batched sampling that returns text, tokens and (for planner models) the plan;
* ``hidden_states``: representations at named sites (for probes).

A subclass implements three primitives — ``score_spans``, ``generate`` and ``hidden_states`` — and
inherits the rest. Concrete adapters live next to the trainer that builds them (``trainers/``) or in
``harness/hf_adapter.py`` for any Hugging Face causal LM.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np
from lm_eval.api.model import LM

from harness.sampling import Sampling
from harness.windows import WINDOWERS

#: how a scored document is encoded: ``lm-eval`` as lm-eval's ``HFLM.tok_encode`` (the tokenizer's own
#: special tokens, e.g. a Llama-style BOS), ``plain`` with no special tokens
ENCODINGS = ("lm-eval", "plain")


class SpanRequest(NamedTuple):
    """Score the last ``n_score`` tokens of ``ids`` given everything before them.

    ``document``/``offset``: the text of the document ``ids`` was cut from and where it sits in that
    document's token sequence (``ids == document_ids(document)[offset:offset + len(ids)]``). The
    per-document context travels inside the request, so an adapter with the ``document_context``
    capability (a planner conditioning on each sentence's writing action) needs no side channel; plain
    LMs ignore it.
    """

    ids: list[int]
    n_score: int
    document: str | None = None
    offset: int = 0


class SpanScores(NamedTuple):
    logprobs: np.ndarray  # float64 natural-log probabilities, shape (n_score,)
    greedy: np.ndarray  # bool: was each scored token the argmax


@dataclass
class Generation:
    text: str
    token_ids: list[int]
    plans: list[int] | None = None  # the action planned for each generated sentence (planner models)
    meta: dict[str, Any] = field(default_factory=dict)


#: what an adapter can do beyond scoring and plain generation; tasks declare the ones they need
#: (``Task.needs``) and planning rejects a model that lacks one before any work (docs/model-api.md)
CAPABILITIES: dict[str, str] = {
    "token_scores": "score_spans() gives the log-prob of every token of any span (paper windows, plain "
    "encoding, a chosen window)",
    "sampling": "generate() samples as harness.sampling.Sampling says (temperature, top-k/top-p, one "
    "seeded generator per prompt, fixed-length continuations) and returns the generated token ids",
    "rolling_loglikelihood": "rolling_loglikelihoods() gives each document's log-likelihood and token "
    "count in lm-eval's rolling windows and encoding (loglikelihood_rolling)",
    "greedy_generation": "generate() decodes greedily to a stop string, end of text or a token budget "
    "(lm-eval's generate_until)",
    "plans": "generate() returns the writing action planned for each sentence (Generation.plans)",
    "hidden_sites": "hidden_states() reads representations at named sites (hidden_sites())",
    "document_context": "score_spans() conditions on SpanRequest.document (e.g. per-sentence plans)",
}

#: what every adapter that implements the primitives (``score_spans``, ``generate``) can do: the rest of
#: the API derives from them. A model that wraps another interface (``harness.lm_eval_adapter``: any
#: lm-eval ``LM``) declares only the ones it really has, and planning refuses a task needing another.
CORE_CAPABILITIES: frozenset[str] = frozenset(
    {"token_scores", "sampling", "rolling_loglikelihood", "greedy_generation"}
)


def generation_needs(temperature: float, stop_at_eos: bool = True) -> frozenset[str]:
    """The capability a generation request needs: greedy decoding that may stop at end of text is what
    lm-eval's ``generate_until`` does; a temperature or fixed-length continuations need ``sampling``."""
    return frozenset({"greedy_generation" if temperature == 0 and stop_at_eos else "sampling"})


class PlanevalLM(LM):
    """Base class of every model adapter."""

    #: a stable identity: the cache key of the artifact, or ``hf:<name>@<revision or content hash>``
    identity: str = "unknown"
    #: the ``CAPABILITIES`` this adapter has, declared so that planning can check them without loading
    capabilities: ClassVar[frozenset[str]] = CORE_CAPABILITIES

    # -- primitives a subclass implements ------------------------------------------------------
    @property
    @abstractmethod
    def tokenizer(self) -> Any:
        """A Hugging Face tokenizer (``__call__``, ``decode``)."""

    @property
    @abstractmethod
    def max_length(self) -> int:
        """Longest input the model takes, in tokens."""

    @property
    @abstractmethod
    def prefix_token_id(self) -> int:
        """The token that precedes every document (BOS, else EOS), as lm-eval's ``prefix_token_id``."""

    @abstractmethod
    def score_spans(self, requests: Sequence[SpanRequest], *, progress: bool = False) -> list[SpanScores]:
        """Log-probs (natural log) of the scored tokens of each request, batched."""

    @abstractmethod
    def generate(
        self, prompts: Sequence[str], sampling: Sampling, *, progress: bool = False
    ) -> list[Generation]:
        """Sample a continuation of each prompt as ``sampling`` says (``harness.sampling``:
        ``temperature=0`` is greedy); deterministic in ``sampling.seed``.

        With ``stop_at_eos=False`` the end-of-text token is never produced, so every continuation has
        exactly ``max_new_tokens`` tokens (fixed-length continuation protocols)."""

    def hidden_sites(self) -> list[str]:
        """Names of the sites ``hidden_states`` can read (e.g. ``layer3.pre_merge``)."""
        return []

    def hidden_states(self, texts: Sequence[str], sites: Sequence[str]) -> dict[str, list[np.ndarray]]:
        raise NotImplementedError(f"{type(self).__name__} exposes no hidden-state sites")

    def settings(self) -> dict[str, Any]:
        """What was resolved when the model was loaded (window, dtype, device, batch size), recorded with
        every result it produces; an adapter adds what it knows."""
        return {"max_length": self.max_length}

    # -- derived API ---------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode_lm_eval(self, text: str) -> list[int]:
        """As lm-eval's ``HFLM.tok_encode``: the tokenizer adds its own special tokens (a Llama-style
        tokenizer prepends BOS; GPT-2's adds none) — or what an adapter's ``add_bos_token`` says, as
        lm-eval's model arg of that name — and none when the text starts with the prefix token's text."""
        tok = self.tokenizer
        add_bos = getattr(self, "add_bos_token", None)
        special = True if add_bos is None else bool(add_bos)
        if text.startswith(tok.decode(self.prefix_token_id)):
            special = False
        return list(tok(text, add_special_tokens=special)["input_ids"])

    def document_ids(self, text: str, encoding: str = "plain") -> list[int]:
        """A document's token ids with the prefix token in front (the prefix is never scored), encoded
        ``plain`` (no special tokens) or as ``lm-eval`` does (see ``ENCODINGS``)."""
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r} (valid: {', '.join(ENCODINGS)})")
        body = self.encode_lm_eval(text) if encoding == "lm-eval" else self.encode(text)
        return [self.prefix_token_id, *body]

    def token_logprobs(
        self,
        texts: Sequence[str],
        *,
        mode: str = "rolling",
        window: int | None = None,
        progress: bool = False,
        encoding: str = "plain",
    ) -> list[np.ndarray]:
        """Per-token log-probs of each document (its tokens after the prefix), in ``paper`` mode
        (stride-1 windows, ``window`` tokens including the target) or ``rolling`` mode (disjoint
        windows of at most ``window`` input tokens, as lm-eval). ``encoding="lm-eval"`` also scores the
        special tokens the tokenizer adds (as lm-eval's ``loglikelihood_rolling`` does)."""
        if mode not in WINDOWERS:
            raise ValueError(f"unknown window mode {mode!r} (valid: {', '.join(WINDOWERS)})")
        if mode == "paper":
            size = (window or 128) - 1
        else:
            size = window or self.max_length
        size = min(size, self.max_length)
        requests: list[SpanRequest] = []
        owners: list[int] = []
        for d, text in enumerate(texts):
            ids = self.document_ids(text, encoding)
            for w in WINDOWERS[mode](len(ids), size):
                requests.append(SpanRequest(ids[w.start : w.end], w.n_score, document=text, offset=w.start))
                owners.append(d)
        scores = self.score_spans(requests, progress=progress)
        per_doc: list[list[np.ndarray]] = [[] for _ in texts]
        for d, s in zip(owners, scores, strict=True):
            per_doc[d].append(s.logprobs)
        return [np.concatenate(p) if p else np.zeros(0) for p in per_doc]

    def rolling_loglikelihoods(
        self, texts: Sequence[str], *, progress: bool = False
    ) -> list[tuple[float, int]]:
        """Each document's (log-likelihood, scored tokens) in lm-eval's rolling windows of ``max_length``
        and its encoding: what ``loglikelihood_rolling`` sums, with the count perplexity divides by. An
        adapter without per-token scores (an lm-eval ``LM``) overrides this instead of ``score_spans``."""
        logprobs = self.token_logprobs(texts, mode="rolling", progress=progress, encoding="lm-eval")
        return [(float(np.sum(lp, dtype=np.float64)), len(lp)) for lp in logprobs]

    # -- lm-eval's interface ---------------------------------------------------------------------
    def _context_continuation(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Split and encode as lm-eval's HFLM does (``_encode_pair`` with ``tok_encode``): trailing spaces
        of the context move to the continuation, the pair is encoded whole (tokens that merge across the
        boundary are handled the same way), with the tokenizer's own special tokens (a Llama-style BOS;
        see ``encode_lm_eval``). An empty context (``TemplateLM.loglikelihood``): the continuation without
        special tokens after the prefix token — or, when it starts with the prefix token, that token."""
        if not context:
            cont = self.encode(continuation)
            if cont and cont[0] == self.prefix_token_id:
                return cont[:1], cont[1:]
            return [self.prefix_token_id], cont
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self.encode_lm_eval(context + continuation)
        ctx = self.encode_lm_eval(context)
        return ctx, whole[len(ctx) :]

    def loglikelihood(self, requests: list[Any]) -> list[tuple[float, bool]]:
        spans = []
        for req in requests:
            ctx, cont = self._context_continuation(*req.args)
            ids = (ctx + cont)[-(self.max_length + 1) :]
            spans.append(SpanRequest(ids, len(cont)))
        out = []
        for req, s in zip(requests, self.score_spans(spans), strict=True):
            res = (float(s.logprobs.sum()), bool(s.greedy.all()))
            self.cache_hook.add_partial("loglikelihood", req.args, res)
            out.append(res)
        return out

    def loglikelihood_rolling(self, requests: list[Any]) -> list[float]:
        texts = [req.args[0] for req in requests]
        out = [float(lp.sum()) for lp in self.token_logprobs(texts, mode="rolling", encoding="lm-eval")]
        for req, res in zip(requests, out, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, res)
        return out

    def generate_until(self, requests: list[Any]) -> list[str]:
        """lm-eval's generation call: requests with the same settings go to ``generate`` as one batch."""
        groups: dict[tuple, list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault(_generation_settings(req.args[1]), []).append(i)
        out: list[str] = [""] * len(requests)
        for (until, max_new, temperature), rows in groups.items():
            sampling = Sampling(max_new_tokens=max_new, temperature=temperature, stop=until)
            gens = self.generate([requests[i].args[0] for i in rows], sampling)
            for i, gen in zip(rows, gens, strict=True):
                text = gen.text
                for stop in until:
                    text = text.split(stop)[0]
                self.cache_hook.add_partial("generate_until", requests[i].args, text)
                out[i] = text
        return out


def _generation_settings(gen_kwargs: dict | None) -> tuple[tuple[str, ...], int, float]:
    """(stop strings, max new tokens, temperature) from lm-eval's gen_kwargs; greedy unless do_sample."""
    kwargs = dict(gen_kwargs or {})
    until = kwargs.get("until") or []
    if isinstance(until, str):
        until = [until]
    max_new = int(kwargs.get("max_gen_toks", kwargs.get("max_new_tokens", 256)))
    temperature = float(kwargs.get("temperature", 1.0)) if kwargs.get("do_sample") else 0.0
    return tuple(until), max_new, temperature
