"""The generation protocol shared by the generation metrics (MAUVE, latent perplexity, plan-match: the
unconditional samples; ROUGE and action edit distance: the continuations of held-out prefixes).

Generating is the expensive part of these metrics, so it happens once per (model key, protocol, seed,
prompts) and is cached as its own stage, ``<cache>/generations/<key>/generations.parquet``, one row per
sample: text, token ids, the plan (planner models) and, for continuations, the prefix and the true
continuation's token ids. Every metric is recomputed from that table without generating again, and
tasks that ask for the same protocol share one generation (``max_new_tokens`` is part of the protocol,
the lengths at which a task cuts the continuation are not: ROUGE at 128/256 and edit distance at
128..1024 share the 1024-token continuations).

* Unconditional: ``n_samples`` continuations of the empty prompt (the adapter puts its prefix token in
  front), ``max_new_tokens`` each; by default EOS is suppressed so every sample has exactly that many
  tokens (paper A: 1024-token samples), ``stop_at_eos=True`` lets a model end its documents.
* Continuation: ``harness.text.prompts`` cuts held-out documents at a sentence end; each prefix is continued
  with ``max(lengths)`` tokens (EOS suppressed unless ``fixed_length`` is off), and the true
  continuation at length L is the document's next L tokens.

Ancestral sampling at temperature 1 by default; ``seed`` seeds every sample (the adapter derives one
generator per prompt from it). The cache key hashes the model key, the protocol, the seed and, for
continuations, the prompts themselves, so a changed corpus can never serve stale generations. Without a
cache (or a model key) the protocol simply generates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from harness.adapters import Generation, PlanevalLM
from harness.hashing import stable_hash
from harness.sampling import Sampling as GenerateConfig
from harness.text.prompts import continuation_prompts
from tasks.base import TaskContext, TaskParams

log = logging.getLogger(__name__)

#: bump when the stored table or the way samples are drawn changes: it is part of every generation key
GENERATION_VERSION = "1"
STAGE = "generations"
FILE = "generations.parquet"


class Sampling(BaseModel):
    """How tokens are drawn: ancestral sampling at ``temperature`` (0: greedy), optional top-k / top-p."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(1.0, ge=0)
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)


class UnconditionalProtocol(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["unconditional"] = "unconditional"
    n_samples: int = Field(ge=1)
    max_new_tokens: int = Field(ge=1)
    stop_at_eos: bool = False
    sampling: Sampling = Sampling()


class UnconditionalParams(TaskParams):
    """The sampling parameters of the tasks that read unconditional samples (``mauve``, ``latent_ppl``,
    ``plan_match``). One definition, so their defaults stay equal and the tasks share one generation."""

    n_samples: int = Field(1000, ge=1)
    max_new_tokens: int = Field(1024, ge=1)
    stop_at_eos: bool = False
    temperature: float = Field(1.0, ge=0)
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)

    def protocol(self) -> UnconditionalProtocol:
        return UnconditionalProtocol(
            n_samples=self.n_samples,
            max_new_tokens=self.max_new_tokens,
            stop_at_eos=self.stop_at_eos,
            sampling=Sampling(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p),
        )


class ContinuationProtocol(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["continuation"] = "continuation"
    n_prompts: int = Field(ge=1)
    min_prefix_tokens: int = Field(ge=1)
    max_new_tokens: int = Field(ge=1)  # = max(lengths) of the task: true continuations are this long
    split: Literal["val", "test"] = "test"
    stop_at_eos: bool = False
    sampling: Sampling = Sampling()


def model_key(model: PlanevalLM, ctx: TaskContext) -> str:
    """The key generations are cached under: the runner's model key, else the adapter's identity."""
    key = ctx.model_key or getattr(model, "identity", "")
    return "" if key in ("", "unknown") else key


def _cached(
    model: PlanevalLM,
    ctx: TaskContext,
    protocol: BaseModel,
    extra_key: Any,
    produce: Callable[[], pd.DataFrame],
) -> pd.DataFrame:
    """The protocol's table from the cache, or ``produce()`` it and store it (atomically)."""
    mkey = model_key(model, ctx)
    if ctx.cache is None or not mkey:
        return produce()
    key = stable_hash(STAGE, GENERATION_VERSION, mkey, protocol, ctx.seed, extra_key)
    if ctx.cache.exists(STAGE, key):
        log.info("generations %s: cached", key)
        return read_table(ctx.cache.path(STAGE, key) / FILE)
    manifest = {"model_key": mkey, "protocol": protocol.model_dump(mode="json"), "seed": ctx.seed}
    with ctx.cache.build(STAGE, key, manifest) as b:
        table = produce()
        table.to_parquet(b.dir / FILE, index=False)
        b.manifest["n_samples"] = len(table)
        b.manifest["n_tokens"] = int(table["n_tokens"].sum())
    # read back, so the first evaluation sees exactly what every later one will
    return read_table(ctx.cache.path(STAGE, key) / FILE)


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


def _generate(
    model: PlanevalLM,
    prompts: list[str],
    max_new_tokens: int,
    stop_at_eos: bool,
    s: Sampling,
    ctx: TaskContext,
) -> list[Generation]:
    config = GenerateConfig(
        max_new_tokens=max_new_tokens,
        temperature=s.temperature,
        top_k=s.top_k,
        top_p=s.top_p,
        seed=ctx.seed,
        stop_at_eos=stop_at_eos,
    )
    return model.generate(prompts, config, progress=ctx.progress)


def unconditional(model: PlanevalLM, ctx: TaskContext, protocol: UnconditionalProtocol) -> pd.DataFrame:
    """``n_samples`` unconditional samples: ``sample_id`` (``u00000``…), text, token_ids, plans,
    n_tokens, finish."""

    def produce() -> pd.DataFrame:
        gens = _generate(
            model,
            [""] * protocol.n_samples,
            protocol.max_new_tokens,
            protocol.stop_at_eos,
            protocol.sampling,
            ctx,
        )
        ids = [f"u{i:05d}" for i in range(len(gens))]
        return pd.DataFrame({"sample_id": ids, **_rows(gens)})

    return _cached(model, ctx, protocol, None, produce)


def continuations(model: PlanevalLM, ctx: TaskContext, protocol: ContinuationProtocol) -> pd.DataFrame:
    """One continuation per held-out prompt: ``sample_id`` (the document id), prefix, the true
    continuation's ``continuation_ids`` (``max_new_tokens`` of them) and the generated text/token_ids/
    plans/n_tokens/finish."""
    tok = model.tokenizer
    selection = continuation_prompts(
        ctx.corpus.split(protocol.split),
        model.encode,
        lambda ids: tok.decode(list(ids)),
        n_prompts=protocol.n_prompts,
        min_prefix_tokens=protocol.min_prefix_tokens,
        lengths=[protocol.max_new_tokens],
        seed=ctx.seed,
    )
    prompts = selection.prompts
    if not prompts:
        raise ValueError(
            f"no usable continuation prompts in the {protocol.split} split: {selection.summary()}; "
            f"documents need ≥ {protocol.min_prefix_tokens} prefix tokens and ≥ {protocol.max_new_tokens} "
            "more after a sentence end (lower the lengths or min_prefix_tokens for short documents)"
        )
    # the prompts (hence the corpus and the tokenizer) are part of the key
    digest = stable_hash([(p.sample_id, p.prefix_text, list(p.continuation_ids)) for p in prompts])

    def produce() -> pd.DataFrame:
        gens = _generate(
            model,
            [p.prefix_text for p in prompts],
            protocol.max_new_tokens,
            protocol.stop_at_eos,
            protocol.sampling,
            ctx,
        )
        return pd.DataFrame(
            {
                "sample_id": [p.sample_id for p in prompts],
                "prefix": [p.prefix_text for p in prompts],
                "continuation_ids": [list(p.continuation_ids) for p in prompts],
                **_rows(gens),
            }
        )

    return _cached(model, ctx, protocol, digest, produce)


def at_length(tokenizer: Any, ids: Sequence[int], n: int) -> str:
    """The text of the first ``n`` tokens (both sides of a length-L comparison are cut this way)."""
    return tokenizer.decode(list(ids[:n]))
