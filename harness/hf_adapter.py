"""The adapter for any Hugging Face causal LM (docs/model-api.md): ``hf:<name or local path>`` models and
every trainer artifact that is a plain ``PreTrainedModel``.

Scoring right-pads each batch and runs one forward per batch without an attention mask (padding sits
after every scored position, so the causal mask already hides it and SDPA takes its fast path); logits
are computed only at scored positions where the model supports a boolean ``logits_to_keep``, and
GPT-2's ``gelu_new`` runs as torch's fused kernel of the same formula (see ``fuse_gelu``).
Generation left-pads, uses ``model.generate`` with its KV cache, samples each prompt from its own
seeded ``torch.Generator`` (so a prompt's sample does not depend on which batch it lands in) and slides
the context window when a generation outgrows the model's context.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
    SuppressTokensLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)
from transformers.activations import NewGELUActivation

from harness.adapters import CORE_CAPABILITIES, Generation, PlanevalLM, SpanRequest, SpanScores
from harness.hashing import tree_digest
from harness.pretrained import CONTEXT_KEYS
from harness.sampling import Sampling

_TOKENIZER_INFINITY = 10**9  # tokenizers without a limit report ~1e30
_DEFAULT_MAX_LENGTH = 2048
_WEIGHT_FILES = ("*.safetensors", "*.json", "*.bin")


def local_identity(path: Path) -> str:
    """``hf:<abs path>#<content hash>``: retraining into the same folder changes the identity."""
    path = Path(path).expanduser().resolve()
    return f"hf:{path}#{tree_digest(path, _WEIGHT_FILES)}"


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
#: ``batch_size=auto`` on the CPU: searching is pointless there (memory is rarely the limit, and larger
#: batches only pad more); on an accelerator the largest batch that fits is searched (``auto_batch_size``)
CPU_BATCH_SIZE = 16
#: where that search starts (shrunk by accelerate's factor on each out-of-memory error)
AUTO_BATCH_START = 512


def auto_batch_size(lm: HFCausalLM) -> int:
    """The largest batch of full-context scoring requests that fits in the accelerator's memory, searched
    from ``AUTO_BATCH_START`` down on each out-of-memory error as lm-eval's ``batch_size=auto`` does
    (accelerate's ``find_executable_batch_size``); generation's KV cache is smaller than a full-context
    forward."""
    from accelerate.utils import find_executable_batch_size

    window = lm.max_length
    ids = [lm.prefix_token_id] * (window + 1)

    @find_executable_batch_size(starting_batch_size=AUTO_BATCH_START)
    def probe(batch_size: int) -> int:
        lm.batch_size = batch_size
        lm.score_spans([SpanRequest(ids, window)] * batch_size)
        return batch_size

    found = probe()
    if lm._device.type == "cuda":
        torch.cuda.empty_cache()
    return found


def row_seed(seed: int, index: int) -> int:
    """A well-mixed 63-bit seed for prompt ``index`` of a call seeded with ``seed``."""
    state = np.random.SeedSequence([seed & 0xFFFFFFFF, index]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def resolve_max_length(config: Any, tokenizer: Any) -> int:
    """Context length as lm-eval resolves it: config, then the tokenizer, then 2048."""
    for cfg in (getattr(config, "text_config", None), config):
        for attr in CONTEXT_KEYS:
            value = getattr(cfg, attr, None) if cfg is not None else None
            if isinstance(value, int) and value > 0:
                return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < _TOKENIZER_INFINITY:
        return limit
    return _DEFAULT_MAX_LENGTH


class _SeededSampler(LogitsProcessor):
    """Samples the next token of each row from its own generator and returns a one-hot score row, so
    greedy decoding in ``generate`` picks exactly the sampled token."""

    def __init__(
        self, generators: list[torch.Generator], temperature: float, top_k: int | None, top_p: float | None
    ):
        self.generators = generators
        self.warpers: list[LogitsProcessor] = [TemperatureLogitsWarper(temperature)]
        if top_k:
            self.warpers.append(TopKLogitsWarper(top_k))
        if top_p is not None and top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.float()
        for warp in self.warpers:
            scores = warp(input_ids, scores)
        probs = torch.softmax(scores, dim=-1)
        picks = torch.cat(
            [torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(self.generators)]
        )
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, picks[:, None], 0.0)
        return out


class _RowStop(StoppingCriteria):
    """Per-row stop on a stop string in the text generated so far (earlier rounds included);
    ``stopped_at[i]`` is the number of this round's tokens row i had when it stopped."""

    def __init__(self, tokenizer: Any, start: int, before: list[list[int]], stop: Sequence[str]):
        self.tokenizer = tokenizer
        self.start = start
        self.before = before
        self.stop = [s for s in stop if s]
        self.tail = 4 * max((len(s) for s in self.stop), default=0) + 4  # tokens that can hold a stop string
        self.stopped_at: list[int | None] = [None] * len(before)

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        done = torch.tensor([s is not None for s in self.stopped_at], dtype=torch.bool)
        if not self.stop:
            return done.to(input_ids.device)
        n_new = input_ids.shape[1] - self.start
        for i in range(input_ids.shape[0]):
            if self.stopped_at[i] is None:
                new = input_ids[i, self.start :].tolist()
                text = self.tokenizer.decode((self.before[i] + new)[-self.tail :])
                if any(s in text for s in self.stop):
                    self.stopped_at[i], done[i] = n_new, True
        return done.to(input_ids.device)


class HFCausalLM(PlanevalLM):
    """Any ``transformers`` causal LM and its tokenizer as a ``PlanevalLM``."""

    capabilities = CORE_CAPABILITIES | {"hidden_sites"}

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        identity: str,
        batch_size: int | str = 16,
        device: str = "cpu",
        fused_gelu: bool = True,
        add_bos_token: bool | None = None,
        autocast: str | None = None,
        max_length: int | None = None,
        **kwargs: Any,  # lm-eval forwards extra options (max_batch_size, ...): accepted and ignored
    ) -> None:
        super().__init__()
        if autocast not in (None, "", "bf16", "bfloat16", "fp16", "float16"):
            raise ValueError(f"unknown autocast {autocast!r} (valid: bf16, fp16)")
        #: scoring and generation under ``torch.autocast`` (weights stay fp32; matmuls in bf16/fp16,
        #: log-softmax in fp32): what fills an accelerator; deviation from fp32 in bench_perplexity
        self.autocast = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16}.get(
            autocast or "", torch.float16 if autocast in ("fp16", "float16") else None
        )
        #: lm-eval's ``add_bos_token`` model arg, for ``generate_until`` and the ``lm-eval`` scoring encoding
        #: (``encode_lm_eval``; ``None``: the tokenizer's own default, as lm-eval's ``hf`` model); planeval's
        #: ``generate`` always puts the prefix token first
        self.add_bos_token = add_bos_token
        self._hflm: Any = None
        self._device = torch.device(device)
        self.model = model.to(self._device).eval()
        if fused_gelu:
            fuse_gelu(self.model)
        self._tokenizer = tokenizer
        self.identity = identity
        #: at most the model's own context (``max_length``: the rolling scoring window, lm-eval's arg)
        self._max_length = max_length or resolve_max_length(model.config, tokenizer)
        self.batch_size = int(batch_size) if str(batch_size).isdigit() else CPU_BATCH_SIZE
        if batch_size == "auto" and self._device.type != "cpu":
            self.batch_size = auto_batch_size(self)
        self._has_keep = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        # transformers >= 5 slices hidden states with a boolean mask before the LM head; checked on use
        self._mask_logits = self._has_keep and _supports_bool_keep()
        #: fused LM head + log-softmax in scoring: None until the first batch has checked it
        self._fused: bool | None = None

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        revision: str | None = None,
        batch_size: int | str = 16,
        device: str = "cpu",
        dtype: str = "float32",
        add_bos_token: bool | None = None,
        autocast: str | None = None,
        max_length: int | None = None,
    ) -> HFCausalLM:
        """Load a hub name (identity ``hf:<name>@<revision>``) or a local folder (identity
        ``hf:<abs path>#<content hash>``, so retraining into the same folder changes the identity)."""
        if dtype != "auto" and dtype not in _DTYPES:
            raise ValueError(f"unknown dtype {dtype!r} (valid: auto, {', '.join(_DTYPES)})")
        torch_dtype: Any = "auto" if dtype == "auto" else _DTYPES[dtype]
        local = Path(name_or_path).expanduser()
        source = str(local.resolve()) if local.is_dir() else name_or_path
        # as lm-eval's hf model loads it: add_bos_token reaches the tokenizer (only lm_eval_generate_until
        # encodes with the tokenizer's special tokens; planeval's own paths never do)
        bos = {} if add_bos_token is None else {"add_bos_token": add_bos_token}
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision, **bos)
        model = AutoModelForCausalLM.from_pretrained(source, revision=revision, dtype=torch_dtype)
        if local.is_dir():
            identity = local_identity(local)
        else:
            rev = revision or getattr(model.config, "_commit_hash", None) or "main"
            identity = f"hf:{name_or_path}@{rev}"
        return cls(
            model, tokenizer, identity, batch_size=batch_size, device=device, add_bos_token=add_bos_token,
            autocast=autocast, max_length=max_length,
        )  # fmt: skip

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> HFCausalLM:
        """lm-eval's ``model_args`` form: ``pretrained=<name or path>,revision=...,dtype=...``."""
        args = dict(kv.split("=", 1) for kv in arg_string.split(",") if kv)
        extra = {k: v for k, v in (additional_config or {}).items() if k in ("batch_size", "device") and v}
        name = args.pop("pretrained")
        if "add_bos_token" in args:
            args["add_bos_token"] = str(args["add_bos_token"]).strip().lower() in ("1", "true", "yes")
        if "max_length" in args:
            args["max_length"] = int(args["max_length"])
        return cls.from_pretrained(name, **{**args, **extra})

    def settings(self) -> dict[str, Any]:
        """The resolved window, dtype, device and batch size (recorded with every result)."""
        dtype = next(self.model.parameters()).dtype
        out = {
            **super().settings(),
            "dtype": str(dtype).removeprefix("torch."),
            "device": str(self._device),
            "batch_size": self.batch_size,
        }
        if self.autocast is not None:
            out["autocast"] = str(self.autocast).removeprefix("torch.")
        return out

    # -- properties --------------------------------------------------------------------------------
    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def prefix_token_id(self) -> int:
        tok = self._tokenizer
        return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    @property
    def pad_token_id(self) -> int:
        tok = self._tokenizer
        for value in (tok.pad_token_id, tok.eos_token_id):
            if value is not None:
                return int(value)
        return 0

    def precision(self) -> Any:
        """The autocast context of scoring and generation (a no-op in fp32)."""
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self._device.type, dtype=self.autocast)

    # -- scoring -----------------------------------------------------------------------------------
    def score_spans(self, requests: Sequence[SpanRequest], *, progress: bool = False) -> list[SpanScores]:
        """Batched log-probs: longest requests first so each batch pads little; one forward per batch."""
        empty = SpanScores(np.zeros(0), np.zeros(0, dtype=bool))
        out: list[SpanScores] = [empty] * len(requests)
        spans: list[tuple[int, list[int], int]] = []
        for i, req in enumerate(requests):
            n = int(req.n_score)
            if n > len(req.ids) - 1 or n < 0:
                raise ValueError(f"request {i}: n_score={n} needs at least {n + 1} ids, got {len(req.ids)}")
            if n > self.max_length:
                raise ValueError(f"request {i}: n_score={n} exceeds the model's max_length {self.max_length}")
            if n:
                spans.append((i, list(req.ids[-(self.max_length + 1) :]), n))
        spans.sort(key=lambda s: -len(s[1]))
        with (
            tqdm(total=len(spans), disable=not progress, desc="scoring", unit="span") as bar,
            torch.inference_mode(),
            self.precision(),
        ):
            for b in range(0, len(spans), self.batch_size):
                batch = spans[b : b + self.batch_size]
                for (i, _, _), scores in zip(batch, self._score_batch(batch), strict=True):
                    out[i] = scores
                bar.update(len(batch))
        return out

    def _score_batch(self, batch: list[tuple[int, list[int], int]]) -> list[SpanScores]:
        lengths = [len(ids) - 1 for _, ids, _ in batch]
        width = max(lengths)
        inputs = np.full((len(batch), width), self.pad_token_id, dtype=np.int64)
        keep = np.zeros((len(batch), width), dtype=bool)
        targets = []
        for row, ((_, ids, n), length) in enumerate(zip(batch, lengths, strict=True)):
            inputs[row, :length] = ids[:-1]
            keep[row, length - n : length] = True
            targets.extend(ids[-n:])
        input_ids = torch.from_numpy(inputs).to(self._device)
        mask = torch.from_numpy(keep).to(self._device)
        target = torch.tensor(targets, dtype=torch.long, device=self._device)
        picked, greedy_t = self._scored_logprobs(input_ids, mask, target)
        logprobs = picked.double().cpu().numpy()
        greedy = greedy_t.cpu().numpy()
        out, at = [], 0
        for _, _, n in batch:
            out.append(SpanScores(logprobs[at : at + n], greedy[at : at + n]))
            at += n
        return out

    def _scored_logprobs(
        self, input_ids: torch.Tensor, mask: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """log P(target) and whether it is the greedy token, at the masked positions.

        Fused where the model allows it: the LM head runs on a few hundred positions at a time and each
        chunk's log-softmax is taken while its logits are in cache — never a (positions × vocabulary)
        tensor of logits and another of log-probs, which cost a third of a small model's scoring time.
        The arithmetic is log_softmax's (x - max - log Σ exp(x - max)), so the numbers are the same; the
        first batch checks it against the plain path (``_fused`` turns off on any difference)."""
        if self._fused is not False:
            hidden = self._scored_hidden(input_ids, mask)
            if hidden is not None:
                fused = _chunked_logprobs(hidden, self.model.get_output_embeddings(), target)
                if self._fused is None:  # once per model: the plain path must agree
                    plain = _plain_logprobs(self._scored_logits(input_ids, mask), target)
                    same = torch.allclose(fused[0], plain[0], rtol=0, atol=1e-4)
                    self._fused = bool(same and torch.equal(fused[1], plain[1]))
                    if not self._fused:
                        return plain
                return fused
            self._fused = False
        return _plain_logprobs(self._scored_logits(input_ids, mask), target)

    def _scored_hidden(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
        """The final hidden states at the masked positions (what the LM head reads), or None when the
        model's base model and head are not the usual ``base_model`` + ``get_output_embeddings()``."""
        head = self.model.get_output_embeddings()
        base = getattr(self.model, "base_model", None)
        if not isinstance(head, torch.nn.Linear) or base is None or base is self.model:
            return None
        try:
            out = base(input_ids=input_ids, use_cache=False)
        except (TypeError, ValueError):
            return None
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return hidden[mask]

    def _scored_logits(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(n_scored, vocab)`` logits at the masked positions, computing the LM head only there when
        the model allows it."""
        if self._mask_logits:
            try:
                logits = self.model(input_ids=input_ids, logits_to_keep=mask, use_cache=False).logits
                if logits.dim() == 2 and logits.shape[0] == int(mask.sum()):
                    return logits
            except (TypeError, IndexError, RuntimeError):
                pass
            self._mask_logits = False  # an older or custom forward: fall back to full logits
        return self.model(input_ids=input_ids, use_cache=False).logits[mask]

    # -- generation --------------------------------------------------------------------------------
    def generate(
        self, prompts: Sequence[str], sampling: Sampling, *, progress: bool = False
    ) -> list[Generation]:
        """Continue ``[prefix token] + prompt`` for each prompt; prompt ``i`` samples from a generator
        seeded by ``(sampling.seed, i)``. Generation ends at EOS, a stop string (trimmed from the text)
        or ``max_new_tokens``; ``meta["finish"]`` says which."""
        if sampling.max_new_tokens <= 0:
            return [Generation("", [], meta={"finish": "length"}) for _ in prompts]
        stop = sampling.stop
        contexts = [[self.prefix_token_id, *self.encode(p)] for p in prompts]
        generators = [torch.Generator().manual_seed(row_seed(sampling.seed, i)) for i in range(len(prompts))]
        order = sorted(range(len(prompts)), key=lambda i: -len(contexts[i]))
        results: list[Generation | None] = [None] * len(prompts)
        with (
            tqdm(total=len(prompts), disable=not progress, desc="generating", unit="prompt") as bar,
            torch.inference_mode(),
            self.precision(),
        ):
            for b in range(0, len(order), self.batch_size):
                rows = order[b : b + self.batch_size]
                tokens, finish = self._generate_rows(
                    [contexts[i] for i in rows], [generators[i] for i in rows], sampling
                )
                for i, toks, why in zip(rows, tokens, finish, strict=True):
                    text = self._tokenizer.decode(toks, skip_special_tokens=True)
                    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
                    results[i] = Generation(text[:cut] if cut >= 0 else text, toks, meta={"finish": why})
                bar.update(len(rows))
        return [r for r in results if r is not None]

    def lm_eval_generate_until(self, requests: list[Any], disable_tqdm: bool = True) -> list[str]:
        """lm-eval's generation requests answered exactly as lm-eval's own ``hf`` model answers them
        (the lm-eval protocols of the math tasks): the code of ``lm_eval.models.huggingface.HFLM`` on
        these weights — its prompt encoding (no prefix token; BOS only where the tokenizer adds one or
        ``add_bos_token`` says so), batching order, left truncation to ``max_length - max_gen_toks``,
        stop sequences and decoding, and its sampling (unseeded). GPT-2's GELU runs unfused meanwhile,
        as in a model lm-eval loads itself. ``generate_until`` (planeval's seeded generation behind
        lm-eval's interface) is unchanged; a subclass with its own ``generate`` (two-stage models)
        answers through it here too."""
        if type(self).generate is not HFCausalLM.generate:
            return self.generate_until(requests)
        if self._hflm is None:
            import copy

            from lm_eval.models.huggingface import HFLM

            self._hflm = HFLM(
                pretrained=self.model,
                tokenizer=copy.deepcopy(self._tokenizer),  # lm-eval may set a pad token on its copy
                batch_size=self.batch_size,
                add_bos_token=self.add_bos_token,
            )
        self._hflm.cache_hook = self.cache_hook
        with unfused_gelu(self.model):
            return self._hflm.generate_until(requests, disable_tqdm=disable_tqdm)

    def _generate_rows(
        self, contexts: list[list[int]], generators: list[torch.Generator], sampling: Sampling
    ) -> tuple[list[list[int]], list[str]]:
        """Generate for one batch in rounds with a sliding window. Each row conditions on
        ``history[start:]``; when that fills the context, ``start`` moves so that the last
        ``max_length - min(tokens still to make, max_length // 2)`` tokens remain (re-encoded). A round
        ends at the first row that needs to slide; the others re-encode the same context next round,
        so a row's tokens do not depend on the rows it is batched with."""
        window = self.max_length
        max_new_tokens = sampling.max_new_tokens
        made: list[list[int]] = [[] for _ in contexts]
        starts = [0] * len(contexts)
        finish = ["length"] * len(contexts)
        active = list(range(len(contexts)))
        eos = self._eos_ids() if sampling.stop_at_eos else []
        while active:
            ctxs = []
            for r in active:
                history = contexts[r] + made[r]
                if len(history) - starts[r] >= window:
                    room = min(max_new_tokens - len(made[r]), max(1, window // 2))
                    starts[r] = len(history) - (window - room)
                ctxs.append(history[starts[r] :])
            budget = min(
                min(max_new_tokens - len(made[r]), window - len(c)) for r, c in zip(active, ctxs, strict=True)
            )
            new, stopper = self._generate_round(
                ctxs, budget, [made[r] for r in active], [generators[r] for r in active], sampling, eos
            )
            still = []
            for k, r in enumerate(active):
                toks = new[k][: stopper.stopped_at[k] or budget]
                ended = next((j for j, t in enumerate(toks) if t in eos), None)
                if ended is not None:
                    made[r].extend(toks[:ended])
                    finish[r] = "eos"
                    continue
                made[r].extend(toks)
                if stopper.stopped_at[k]:
                    finish[r] = "stop"
                elif len(made[r]) < max_new_tokens:
                    still.append(r)
            active = still
        return made, finish

    def _generate_round(
        self,
        ctxs: list[list[int]],
        budget: int,
        before: list[list[int]],
        generators: list[torch.Generator],
        sampling: Sampling,
        eos: list[int],
    ) -> tuple[list[list[int]], _RowStop]:
        width = max(len(c) for c in ctxs)
        ids = np.full((len(ctxs), width), self.pad_token_id, dtype=np.int64)
        attn = np.zeros((len(ctxs), width), dtype=np.int64)
        for row, ctx in enumerate(ctxs):
            ids[row, width - len(ctx) :] = ctx
            attn[row, width - len(ctx) :] = 1
        stopper = _RowStop(self._tokenizer, width, before, sampling.stop)
        processors = LogitsProcessorList()
        if not sampling.stop_at_eos:  # before sampling, so EOS can never be drawn
            processors.append(SuppressTokensLogitsProcessor(self._eos_ids(), device=self._device))
        if sampling.temperature > 0:
            s = sampling
            processors.append(_SeededSampler(generators, s.temperature, s.top_k, s.top_p))
        config = GenerationConfig(
            max_new_tokens=budget,
            do_sample=False,
            num_beams=1,
            repetition_penalty=1.0,
            pad_token_id=self.pad_token_id,
            eos_token_id=eos or None,
        )
        out = self.model.generate(
            input_ids=torch.from_numpy(ids).to(self._device),
            attention_mask=torch.from_numpy(attn).to(self._device),
            generation_config=config,
            logits_processor=processors,
            stopping_criteria=StoppingCriteriaList([stopper]),
        )
        return out[:, width:].tolist(), stopper

    def _eos_ids(self) -> list[int]:
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if configured is None:
            configured = self._tokenizer.eos_token_id
        if configured is None:
            return []
        return [int(x) for x in (configured if isinstance(configured, list) else [configured])]

    # -- representations ---------------------------------------------------------------------------
    def hidden_sites(self) -> list[str]:
        """``embed`` and ``layer{i}.resid`` (the residual stream after block i, as the model's
        ``output_hidden_states`` gives it: for GPT-2 the last one is after the final layer norm, the
        representation MAUVE's featurizer takes)."""
        n = self.model.config.get_text_config().num_hidden_layers
        return ["embed", *[f"layer{i}.resid" for i in range(n)]]

    def hidden_states(self, texts: Sequence[str], sites: Sequence[str]) -> dict[str, list[np.ndarray]]:
        """For each site, one ``(T, d)`` float32 array per text over ``document_ids(text)`` (prefix
        token first; row t has read ids[:t+1]), truncated to ``max_length`` tokens."""
        valid = self.hidden_sites()
        unknown = [s for s in sites if s not in valid]
        if unknown:
            raise ValueError(f"unknown hidden sites {unknown} (valid: {', '.join(valid)})")
        index = {s: valid.index(s) for s in sites}
        docs = [self.document_ids(t)[: self.max_length] for t in texts]
        out: dict[str, list[np.ndarray]] = {s: [np.zeros(0)] * len(texts) for s in sites}
        order = sorted(range(len(texts)), key=lambda i: -len(docs[i]))
        with torch.inference_mode():
            for b in range(0, len(order), self.batch_size):
                rows = order[b : b + self.batch_size]
                width = max(len(docs[i]) for i in rows)
                ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
                for k, i in enumerate(rows):
                    ids[k, : len(docs[i])] = docs[i]
                keep = {"logits_to_keep": 1} if self._has_keep else {}
                states = self.model(
                    input_ids=torch.from_numpy(ids).to(self._device),
                    output_hidden_states=True,
                    use_cache=False,
                    **keep,
                ).hidden_states
                for s in sites:
                    layer = states[index[s]].float().cpu().numpy()
                    for k, i in enumerate(rows):
                        out[s][i] = layer[k, : len(docs[i])].copy()
        return out


#: positions per LM-head chunk in fused scoring: logits of 256 positions × a 50k vocabulary are 50 MB in
#: fp32, and smaller chunks keep a small model's logits in cache (measured: 128-512 all within 5%)
SCORE_CHUNK = 256


def _plain_logprobs(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log_softmax over the vocabulary, then the targets' entries (what lm-eval computes)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(1, target[:, None])[:, 0]
    return picked, picked >= logp.max(dim=-1).values


def _chunked_logprobs(
    hidden: torch.Tensor, head: torch.nn.Linear, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``_plain_logprobs(head(hidden), target)`` a chunk of positions at a time, with log_softmax's
    arithmetic (shifted by the max, which also gives the greedy flag)."""
    picked_all, greedy_all = [], []
    for i in range(0, hidden.shape[0], SCORE_CHUNK):
        logits = head(hidden[i : i + SCORE_CHUNK]).float()
        top = logits.max(dim=-1).values
        shifted = logits.gather(1, target[i : i + SCORE_CHUNK, None])[:, 0] - top
        norm = torch.log(torch.exp(logits - top[:, None]).sum(dim=-1))
        picked_all.append(shifted - norm)
        greedy_all.append(shifted >= 0)
    if not picked_all:
        empty = torch.zeros(0, device=hidden.device)
        return empty, empty.bool()
    return torch.cat(picked_all), torch.cat(greedy_all)


def fuse_gelu(model: torch.nn.Module) -> int:
    """Swap GPT-2's ``gelu_new`` (tanh-approximate GELU written as six elementwise ops) for torch's fused
    kernel of the same formula: identical up to float rounding (~1e-7), and ~15% of a tiny GPT-2's
    forward time saved on CPU. Returns how many modules were swapped."""
    swapped = 0
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, NewGELUActivation):
                setattr(parent, name, _FusedGELUTanh())
                swapped += 1
    return swapped


class unfused_gelu:
    """Within the block, modules ``fuse_gelu`` swapped are GPT-2's own ``NewGELUActivation`` again."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.swapped: list[tuple[torch.nn.Module, str, torch.nn.Module]] = []

    def __enter__(self) -> None:
        for parent in self.model.modules():
            for name, child in parent.named_children():
                if isinstance(child, _FusedGELUTanh):
                    self.swapped.append((parent, name, child))
        for parent, name, _ in self.swapped:
            setattr(parent, name, NewGELUActivation())

    def __exit__(self, *exc: Any) -> None:
        for parent, name, child in self.swapped:
            setattr(parent, name, child)
        self.swapped.clear()


class _FusedGELUTanh(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.gelu(x, approximate="tanh")


def _supports_bool_keep() -> bool:
    try:
        from transformers.modeling_utils import slice_logits_to_keep  # noqa: F401
    except ImportError:
        return False
    return True
