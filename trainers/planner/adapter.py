"""The planner-aware model adapter: a ``PlanevalLM`` whose LM is conditioned on writing actions.

* Scoring (perplexity, lm-eval requests): the document is split into sentences, each sentence's
  action is planned from the preceding sentences only (or, for ``eval_actions: oracle``, is the
  k-means id of the true sentence), and every token is conditioned as docs/actions.md aligns it.
* Generation: batched sampling with a KV cache that re-plans once at every sentence end; the action
  planned for each generated sentence is returned in ``Generation.plans``.
* Hidden sites: the plain LM's sites plus ``layer{i}.pre_merge`` / ``layer{i}.post_merge`` at each
  conditioned layer (the merged heads before and after the plan embedding is added).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import pairwise_distances_argmin
from tqdm.auto import tqdm

from harness.actions import SentenceEmbedder
from harness.adapters import Generation, SpanRequest, SpanScores
from harness.hf_adapter import HFCausalLM, _SeededSampler, row_seed
from harness.sampling import Sampling
from harness.sentences import split_sentences_batch
from trainers.planner.alignment import plan_positions, sentence_starts, token_anchor
from trainers.planner.model import PlannedLM

_SENTENCE_END = re.compile(r"([.!?][\"')\]]*|\n)\s*$")
_DOC_CACHE = 256


def ends_sentence(text: str) -> bool:
    """Does ``text`` (the current sentence so far) end a sentence: terminal punctuation or a newline."""
    return bool(text.strip()) and bool(_SENTENCE_END.search(text))


class PlannerLM(HFCausalLM):
    """A planner-conditioned LM: each position is conditioned on its sentence's (planned) action."""

    capabilities = HFCausalLM.capabilities | {"plans", "document_context"}

    def __init__(
        self, planned: PlannedLM, tokenizer: Any, identity: str, batch_size: int = 16, device: str = "cpu"
    ) -> None:
        super().__init__(planned.lm, tokenizer, identity, batch_size=batch_size, device=device)
        self.planned = planned.to(self._device).eval()
        self.spec = planned.spec
        self.embedder = SentenceEmbedder(self.spec.encoder)
        self._plans: OrderedDict[str, tuple[list[int], torch.Tensor]] = OrderedDict()
        self._pending: dict[int, torch.Tensor] = {}
        self.plan_calls = 0  # planner invocations during generation (one per sentence end + one per row)

    @classmethod
    def from_artifact(cls, directory: Path, identity: str, device: str | None = None) -> PlannerLM:
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        planned, tokenizer = PlannedLM.load(Path(directory), device=device)
        return cls(planned, tokenizer, identity, device=device)

    # -- plans ---------------------------------------------------------------------------------------
    def split(self, texts: Sequence[str]) -> list[list[str]]:
        return split_sentences_batch(texts, by_line=self.spec.by_line)

    @torch.no_grad()
    def sentence_plans(self, embeddings: np.ndarray, oracle: bool | None = None) -> torch.Tensor:
        """``(S + 1, K)`` codebook weights for a document's S sentences and the one after them:
        planned from the preceding sentences, or (``oracle``; default: the variant's ``eval_actions``)
        the k-means ids of the sentences themselves."""
        emb = torch.from_numpy(np.asarray(embeddings, dtype=np.float32)).to(self._device)
        if oracle is None:
            oracle = self.spec.eval_actions == "oracle"
        if oracle:
            ids = pairwise_distances_argmin(np.asarray(embeddings), self.planned.centroids.cpu().numpy())
            return self.planned.oracle_weights(torch.from_numpy(ids).to(self._device))
        return self.planned.sentence_weights(self.planned.planner.plan_document(emb))

    def document_plan(
        self, text: str, complete: bool = True, oracle: bool | None = None
    ) -> tuple[list[int], torch.Tensor]:
        """``document_ids(text)`` and the ``(T, K)`` weights conditioning each position (memoised)."""
        key = f"{int(complete)}{oracle}{text}"
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        sentences = self.split([text])[0]
        enc = self._tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        positions = plan_positions(
            [b for _, b in enc["offset_mapping"]], sentence_starts(text, sentences), complete
        )
        weights = self.sentence_plans(self.embedder(sentences), oracle)
        out = (
            [self.prefix_token_id, *enc["input_ids"]],
            weights[torch.from_numpy(positions).clamp(max=len(weights) - 1)],
        )
        self._plans[key] = out
        if len(self._plans) > _DOC_CACHE:
            self._plans.popitem(last=False)
        return out

    def _request_weights(self, req: SpanRequest) -> torch.Tensor:
        """Weights for the input positions of a request (``ids[:-1]``)."""
        n_in = len(req.ids) - 1
        if req.document is not None:
            ids, w = self.document_plan(req.document)
            if list(ids[req.offset : req.offset + len(req.ids)]) == list(req.ids):
                return w[req.offset : req.offset + n_in]
        return self._weights_from_ids(list(req.ids))[:n_in]

    def _weights_from_ids(self, ids: list[int]) -> torch.Tensor:
        """Plans for a bare id sequence (lm-eval requests): decode, split, align by decoded offsets."""
        body = ids[1:] if ids and ids[0] == self.prefix_token_id else ids
        text = self._tokenizer.decode(body)
        ends = [len(self._tokenizer.decode(body[: j + 1])) for j in range(len(body))]
        anchors = [token_anchor(text, a, b) for a, b in zip([0, *ends[:-1]], ends, strict=True)]
        sentences = self.split([text])[0]
        positions = plan_positions(anchors, sentence_starts(text, sentences))
        weights = self.sentence_plans(self.embedder(sentences))
        w = weights[torch.from_numpy(positions).clamp(max=len(weights) - 1)]
        return w if body is not ids else w[1:]

    # -- scoring -------------------------------------------------------------------------------------
    def score_spans(self, requests: Sequence[SpanRequest], *, progress: bool = False) -> list[SpanScores]:
        self._pending = {i: self._request_weights(r) for i, r in enumerate(requests) if r.n_score}
        try:
            return super().score_spans(requests, progress=progress)
        finally:
            self._pending = {}

    def _score_batch(self, batch: list[tuple[int, list[int], int]]) -> list[SpanScores]:
        width = max(len(ids) - 1 for _, ids, _ in batch)
        weights = torch.zeros(len(batch), width, self.spec.n_actions, device=self._device)
        for row, (i, ids, _) in enumerate(batch):
            n = len(ids) - 1
            weights[row, :n] = self._pending[i][-n:]
        self.planned.conditioner.weights = weights
        try:
            return super()._score_batch(batch)
        finally:
            self.planned.conditioner.weights = None

    # -- generation ----------------------------------------------------------------------------------
    def generate(
        self, prompts: Sequence[str], sampling: Sampling, *, progress: bool = False
    ) -> list[Generation]:
        """Sample continuations, re-planning at every sentence end (see ``_Rows``); prompt ``i`` draws
        from a generator seeded by ``(sampling.seed, i)``."""
        s = sampling
        if s.max_new_tokens <= 0:
            return [Generation("", [], plans=[], meta={"finish": "length"}) for _ in prompts]
        out: list[Generation | None] = [None] * len(prompts)
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        with tqdm(total=len(prompts), disable=not progress, desc="generating", unit="prompt") as bar:
            for b in range(0, len(order), self.batch_size):
                rows = order[b : b + self.batch_size]
                gens = _Rows(self, [prompts[i] for i in rows], [row_seed(s.seed, i) for i in rows]).run(
                    s.max_new_tokens, s.temperature, s.top_k, s.top_p, s.stop, s.stop_at_eos
                )
                for i, g in zip(rows, gens, strict=True):
                    out[i] = g
                bar.update(len(rows))
        return [g for g in out if g is not None]

    # -- representations -----------------------------------------------------------------------------
    def hidden_sites(self) -> list[str]:
        merge = [f"layer{i}.{k}" for i in self.spec.layers for k in ("pre_merge", "post_merge")]
        return [*super().hidden_sites(), *merge]

    @torch.no_grad()
    def hidden_states(self, texts: Sequence[str], sites: Sequence[str]) -> dict[str, list[np.ndarray]]:
        valid = self.hidden_sites()
        unknown = [s for s in sites if s not in valid]
        if unknown:
            raise ValueError(f"unknown hidden sites {unknown} (valid: {', '.join(valid)})")
        resid = {s: valid.index(s) for s in sites if not s.endswith("_merge")}
        out: dict[str, list[np.ndarray]] = {s: [np.zeros(0)] * len(texts) for s in sites}
        for i, text in enumerate(texts):
            ids, w = self.document_plan(text)
            ids, w = ids[: self.max_length], w[: self.max_length]
            self.planned.conditioner.capture = {}
            self.planned.conditioner.weights = w[None]
            try:
                res = self.model(
                    input_ids=torch.tensor([ids], device=self._device),
                    output_hidden_states=True,
                    use_cache=False,
                )
                captured = self.planned.conditioner.capture
            finally:
                self.planned.conditioner.weights = None
                self.planned.conditioner.capture = None
            for s in sites:
                t = res.hidden_states[resid[s]] if s in resid else captured[s]
                out[s][i] = t[0].float().cpu().numpy()
        return out


class _Rows:
    """One batch of rows generated in lock-step with a KV cache.

    Each row keeps its token history, the weights conditioning every position, the embeddings of its
    finished sentences and the text of the sentence in progress. When a sampled token ends a
    sentence, that sentence is embedded and the planner plans the next one — once per sentence — and
    the token that ended it is fed with the new plan (the alignment of docs/actions.md). When the context
    fills, every row is re-encoded from its last tokens with their stored weights.
    """

    def __init__(self, lm: PlannerLM, prompts: list[str], seeds: list[int]):
        self.lm = lm
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]
        self.history: list[list[int]] = []
        self.weights: list[list[torch.Tensor]] = []  # per row, per position: (K,)
        self.sentences: list[list[np.ndarray]] = []  # embeddings of finished sentences
        self.current: list[list[int]] = []  # token ids of the sentence in progress
        self.plans: list[list[int]] = []  # action planned for each generated sentence
        self.plan_calls = [0] * len(prompts)
        for r, prompt in enumerate(prompts):
            complete = not prompt.strip() or ends_sentence(prompt)
            ids, w = lm.document_plan(prompt, complete=complete, oracle=False)  # generation: the planner
            w = w.cpu()
            sents = lm.split([prompt])[0]
            emb = lm.embedder(sents) if sents else np.zeros((0, lm.spec.d_enc), np.float32)
            finished = list(emb) if complete else list(emb[:-1])
            self.history.append(list(ids))
            self.weights.append(list(w))
            self.sentences.append(finished)
            self.current.append([] if complete else lm.encode(sents[-1]))
            self.plans.append([int(w[-1].argmax())])
            self.plan_calls[r] += 1

    @torch.no_grad()
    def _replan(self, rows: list[int]) -> None:
        texts = [self.lm.tokenizer.decode(self.current[r]).strip() for r in rows]
        embs = self.lm.embedder(texts)
        for r, e in zip(rows, embs, strict=True):
            self.sentences[r].append(e)
            plans = self.lm.sentence_plans(np.stack(self.sentences[r]), oracle=False).cpu()
            self.weights[r][-1] = plans[-1]  # the token that ended the sentence carries the next plan
            self.plans[r].append(int(plans[-1].argmax()))
            self.current[r] = []
            self.plan_calls[r] += 1
            self.lm.plan_calls += 1

    def _prefill(self, keep: int) -> tuple[Any, torch.Tensor, torch.Tensor]:
        ctx = [h[-keep:] for h in self.history]
        w = [ws[-keep:] for ws in self.weights]
        width = max(len(c) for c in ctx)
        n, k = len(ctx), self.lm.spec.n_actions
        ids = torch.full((n, width), self.lm.pad_token_id, dtype=torch.long)
        mask = torch.zeros(n, width, dtype=torch.long)
        weights = torch.zeros(n, width, k)
        for r, (c, ws) in enumerate(zip(ctx, w, strict=True)):
            ids[r, width - len(c) :] = torch.tensor(c)
            mask[r, width - len(c) :] = 1
            weights[r, width - len(c) :] = torch.stack(ws)
        dev = self.lm._device
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        out = self.lm.planned(
            ids.to(dev),
            weights.to(dev),
            attention_mask=mask.to(dev),
            position_ids=positions.to(dev),
            use_cache=True,
        )
        return out, mask, positions[:, -1]

    @torch.no_grad()
    def run(
        self,
        max_new_tokens: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        stop: Sequence[str],
        stop_at_eos: bool,
    ) -> list[Generation]:
        lm, n = self.lm, len(self.history)
        window = lm.max_length
        eos = lm._eos_ids()
        sampler = _SeededSampler(self.gens, temperature, top_k, top_p) if temperature > 0 else None
        made: list[list[int]] = [[] for _ in range(n)]
        finish = ["length"] * n
        done = [False] * n
        out, mask, last_pos = self._prefill(window - 1)
        for step in range(max_new_tokens):
            logits = out.logits[:, -1].float().cpu()
            if not stop_at_eos and eos:
                logits[:, eos] = float("-inf")
            picks = (sampler(None, logits) if sampler else logits).argmax(-1).tolist()
            ended = []
            for r, tok in enumerate(picks):
                if done[r]:
                    picks[r] = lm.pad_token_id
                    continue
                if stop_at_eos and tok in eos:
                    done[r], finish[r] = True, "eos"
                    picks[r] = lm.pad_token_id
                    continue
                made[r].append(tok)
                self.history[r].append(tok)
                self.weights[r].append(self.weights[r][-1])  # the plan of the sentence in progress
                self.current[r].append(tok)
                if ends_sentence(lm.tokenizer.decode(self.current[r])):
                    ended.append(r)
                if stop and any(s in lm.tokenizer.decode(made[r]) for s in stop if s):
                    done[r], finish[r] = True, "stop"
            if ended:
                self._replan(ended)
            if all(done) or step == max_new_tokens - 1:
                break
            if mask.shape[1] >= window:  # the context is full: slide every row
                room = min(max_new_tokens - step - 1, max(1, window // 2))
                out, mask, last_pos = self._prefill(window - room)
                continue
            k = lm.spec.n_actions
            w = torch.stack([self.weights[r][-1] if not done[r] else torch.zeros(k) for r in range(n)])[
                :, None
            ]
            mask = torch.cat([mask, torch.tensor([[0 if done[r] else 1] for r in range(n)])], dim=1)
            last_pos = last_pos + 1
            dev = lm._device
            out = lm.planned(
                torch.tensor(picks, device=dev)[:, None],
                w.to(dev),
                attention_mask=mask.to(dev),
                position_ids=last_pos[:, None].to(dev),
                past_key_values=out.past_key_values,
                use_cache=True,
            )
        gens = []
        for r in range(n):
            text = lm.tokenizer.decode(made[r], skip_special_tokens=True)
            cut = min((text.find(s) for s in stop if s and s in text), default=-1)
            n_sent = len(self.plans[r]) - (0 if self.current[r] else 1)  # the last plan may be unused
            gens.append(
                Generation(
                    text[:cut] if cut >= 0 else text,
                    made[r],
                    plans=self.plans[r][: max(n_sent, 0)],
                    meta={"finish": finish[r], "plan_calls": self.plan_calls[r]},
                )
            )
        return gens
