"""The engine's generation requests (docs/generation.md): the protocols several tasks read — unconditional
samples (MAUVE, latent perplexity, plan match) and continuations of held-out prefixes (ROUGE, action edit
distance) — generated once per (model key, protocol, seed, prompts) and cached as a stage of their own.

Generating is the expensive part of those metrics, so a task asks the engine for a protocol's table
(``Generations(model, cache, model_key).unconditional(protocol)``) instead of calling ``generate``
itself; tasks that ask for the same protocol share one generation, and every metric is recomputed from
``<cache>/generations/<key>/generations.parquet``, one row per sample: text, token ids, the plan
(planner models) and, for continuations, the prefix and the true continuation's token ids.
``max_new_tokens`` is part of the protocol, the lengths at which a task cuts a continuation are not:
ROUGE at 128/256 and edit distance at 128..1024 share the 1024-token continuations.

* Unconditional: ``n_samples`` continuations of the empty prompt (the adapter puts its prefix token in
  front); with ``stop_at_eos`` off (the tasks' default) every sample has exactly ``max_new_tokens``
  tokens (paper A: 1024-token samples).
* Continuation: ``harness.text.prompts`` cuts held-out documents of ``split`` at a sentence end; each
  prefix is continued with ``max_new_tokens`` tokens, and the true continuation at length L is the
  document's next L tokens (``at_length``).
* Prompted: the task's own prompts (a math problem with its few-shot examples), one answer each, keyed
  by the prompts themselves: a task whose scoring changes (a new version, a new extractor) re-scores
  the stored answers instead of generating again.

A protocol carries one ``harness.sampling.Sampling``; its ``seed`` (the evaluation's) seeds every sample
and picks the continuation prompts. The cache key hashes the model key, the protocol, the seed and, for
continuations, the prompts themselves, so a changed corpus can never serve stale generations. Without a
cache, or a model key, the engine simply generates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.adapters import Generation, PlanevalLM
from harness.hashing import stable_hash
from harness.request_cache import cached_table, model_cache_key
from harness.sampling import Sampling
from harness.text.prompts import continuation_prompts

if TYPE_CHECKING:
    from harness.cache import Cache
    from harness.corpus import Corpus

#: bump when the stored table or the way samples are drawn changes: it is part of every generation key
GENERATION_VERSION = "1"
STAGE = "generations"
FILE = "generations.parquet"


def sampling_key(sampling: Sampling) -> dict[str, Any]:
    """A protocol's sampling as generation keys have spelled it since version 1: ``max_new_tokens`` and
    ``stop_at_eos`` beside the protocol's own fields and the draw (``temperature``, ``top_k``,
    ``top_p``) under ``sampling``; the seed is a key part of its own. Stop strings, which no version-1
    protocol had, join only when there are some, so every key computed before stays what it was."""
    out: dict[str, Any] = {
        "max_new_tokens": sampling.max_new_tokens,
        "stop_at_eos": sampling.stop_at_eos,
        "sampling": {"temperature": sampling.temperature, "top_k": sampling.top_k, "top_p": sampling.top_p},
    }
    if sampling.stop:
        out["stop"] = list(sampling.stop)
    return out


class GenerationProtocol(BaseModel):
    """What a task asks the engine to generate: a kind of prompts and the ``Sampling`` to continue them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sampling: Sampling

    @model_validator(mode="after")
    def _generates(self) -> GenerationProtocol:
        if self.sampling.max_new_tokens < 1:
            raise ValueError("a generation protocol generates at least one token (sampling.max_new_tokens)")
        return self

    def key(self) -> dict[str, Any]:
        """What the cache key hashes (and the manifest records): the protocol's fields and its
        ``sampling_key``, without the seed."""
        own = self.model_dump(mode="json", exclude={"sampling"})
        return {**own, **sampling_key(self.sampling)}


class UnconditionalProtocol(GenerationProtocol):
    kind: Literal["unconditional"] = "unconditional"
    n_samples: int = Field(ge=1)


class ContinuationProtocol(GenerationProtocol):
    """``sampling.max_new_tokens`` is the longest length a task cuts at: true continuations are this long."""

    kind: Literal["continuation"] = "continuation"
    n_prompts: int = Field(ge=1)
    min_prefix_tokens: int = Field(ge=1)
    split: Literal["val", "test"] = "test"


class PromptedProtocol(GenerationProtocol):
    """Answers to prompts a task built; the prompts' digest joins the key (``Generations.prompted``)."""

    kind: Literal["prompted"] = "prompted"


def generation_key(model_key: str, protocol: GenerationProtocol, extra_key: Any = None) -> str:
    """The cache key of a protocol's table for one model (``extra_key``: the continuation prompts'
    digest)."""
    return stable_hash(
        STAGE, GENERATION_VERSION, model_key, protocol.key(), protocol.sampling.seed, extra_key
    )


@dataclass(frozen=True)
class Generations:
    """One model's generation requests, each protocol's table cached per model key in ``cache``."""

    model: PlanevalLM
    cache: Cache | None = None
    #: the runner's model key; empty: the adapter's identity (``unknown`` or empty: nothing is cached)
    model_key: str = ""
    progress: bool = False

    @property
    def key(self) -> str:
        """The model key generations are cached under (empty: none, never cached)."""
        return model_cache_key(self.model_key, self.model)

    def unconditional(self, protocol: UnconditionalProtocol) -> pd.DataFrame:
        """``n_samples`` unconditional samples: ``sample_id`` (``u00000``…), text, token_ids, plans,
        n_tokens, finish."""

        def produce() -> pd.DataFrame:
            gens = self._generate([""] * protocol.n_samples, protocol.sampling)
            ids = [f"u{i:05d}" for i in range(len(gens))]
            return pd.DataFrame({"sample_id": ids, **_rows(gens)})

        return self._cached(protocol, None, produce)

    def continuations(self, protocol: ContinuationProtocol, corpus: Corpus) -> pd.DataFrame:
        """One continuation per held-out prompt of ``corpus``: ``sample_id`` (the document id), prefix,
        the true continuation's ``continuation_ids`` (``max_new_tokens`` of them) and the generated
        text/token_ids/plans/n_tokens/finish."""
        model, tok, n_new = self.model, self.model.tokenizer, protocol.sampling.max_new_tokens
        selection = continuation_prompts(
            corpus.split(protocol.split),
            model.encode,
            lambda ids: tok.decode(list(ids)),
            n_prompts=protocol.n_prompts,
            min_prefix_tokens=protocol.min_prefix_tokens,
            lengths=[n_new],
            seed=protocol.sampling.seed,
        )
        prompts = selection.prompts
        if not prompts:
            raise ValueError(
                f"no usable continuation prompts in the {protocol.split} split: {selection.summary()}; "
                f"documents need ≥ {protocol.min_prefix_tokens} prefix tokens and ≥ {n_new} "
                "more after a sentence end (lower the lengths or min_prefix_tokens for short documents)"
            )
        # the prompts (hence the corpus and the tokenizer) are part of the key
        digest = stable_hash([(p.sample_id, p.prefix_text, list(p.continuation_ids)) for p in prompts])

        def produce() -> pd.DataFrame:
            gens = self._generate([p.prefix_text for p in prompts], protocol.sampling)
            return pd.DataFrame(
                {
                    "sample_id": [p.sample_id for p in prompts],
                    "prefix": [p.prefix_text for p in prompts],
                    "continuation_ids": [list(p.continuation_ids) for p in prompts],
                    **_rows(gens),
                }
            )

        return self._cached(protocol, digest, produce)

    def prompted(
        self, protocol: PromptedProtocol, sample_ids: Sequence[str], prompts: Sequence[str]
    ) -> pd.DataFrame:
        """One generation per prompt, in order: sample_id, prompt, text/token_ids/plans/n_tokens/finish."""
        if len(sample_ids) != len(prompts):
            raise ValueError(f"{len(sample_ids)} sample ids for {len(prompts)} prompts")
        digest = stable_hash([list(sample_ids), list(prompts)])

        def produce() -> pd.DataFrame:
            gens = self._generate(list(prompts), protocol.sampling)
            return pd.DataFrame({"sample_id": list(sample_ids), "prompt": list(prompts), **_rows(gens)})

        return self._cached(protocol, digest, produce)

    def _generate(self, prompts: list[str], sampling: Sampling) -> list[Generation]:
        return self.model.generate(prompts, sampling, progress=self.progress)

    def _cached(
        self, protocol: GenerationProtocol, extra_key: Any, produce: Callable[[], pd.DataFrame]
    ) -> pd.DataFrame:
        """The protocol's table from the cache, or ``produce()`` it and store it (atomically)."""
        mkey = self.key
        manifest = {"model_key": mkey, "protocol": protocol.key(), "seed": protocol.sampling.seed}
        key = generation_key(mkey, protocol, extra_key) if mkey else None
        return cached_table(
            self.cache, STAGE, key, manifest, produce, file=FILE, read=read_table, describe=_counts
        )


def _counts(table: pd.DataFrame) -> dict[str, int]:
    return {"n_samples": len(table), "n_tokens": int(table["n_tokens"].sum())}


def read_table(path: Any) -> pd.DataFrame:
    """A stored generation table with its list columns back as Python lists (parquet gives arrays)."""
    table = pd.read_parquet(path)
    for col in ("token_ids", "plans", "continuation_ids"):
        if col in table.columns:
            table[col] = [None if v is None else [int(x) for x in v] for v in table[col]]
    return table


def _rows(gens: Sequence[Generation]) -> dict[str, list]:
    return {
        "text": [g.text for g in gens],
        "token_ids": [list(map(int, g.token_ids)) for g in gens],
        "plans": [None if g.plans is None else list(map(int, g.plans)) for g in gens],
        "n_tokens": [len(g.token_ids) for g in gens],
        "finish": [str(g.meta.get("finish", "")) for g in gens],
    }


def at_length(tokenizer: Any, ids: Sequence[int], n: int) -> str:
    """The text of the first ``n`` tokens (both sides of a length-L comparison are cut this way)."""
    return tokenizer.decode(list(ids[:n]))
