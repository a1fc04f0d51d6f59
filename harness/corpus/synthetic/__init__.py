"""The embedded default corpus: encyclopedia-like articles with a planted plan.

Each article describes a made-up entity (a town, a river, a scientist, a company or a species) and is
written by a first-order Markov chain over sentence types — its ground-truth writing actions. Every
type has several templates whose slots are filled from the article's entity (so the article is
coherent) and from fresh draws (so the text varies). Because the true actions are known, planner
models and action taggers can be checked against the truth, which no natural corpus offers.

Two seeds: ``plan_seed`` fixes the plan (transition weights, name pools) so that corpora drawn with
different ``CorpusSpec.seed`` values share one plan; the corpus seed (plus ``seed_offset``) draws the
articles. Article ``i`` depends only on the seeds and ``i``: a smaller corpus is a prefix of a larger.
Lengths are kept in ``[min_sentences, max_sentences]`` by conditioning the chain on ending in that
range (exact, by backward recursion) rather than by truncation, so the plan stays Markov.
"""

from __future__ import annotations

import random

from pydantic import Field, model_validator

from harness.corpus.base import CorpusSource, Document, SourceParams, corpus_sources
from harness.corpus.synthetic.article import Article
from harness.corpus.synthetic.plan import (
    END,
    KindPlan,
    Plan,
    _LengthSampler,
    build_plan,
    transition_entropies,
)
from harness.corpus.synthetic.templates import KINDS, ORDERS, REPEATABLE, TEMPLATES, TYPE_NAMES
from harness.corpus.synthetic.vocab import NamePools

__all__ = [
    "END",
    "KINDS",
    "ORDERS",
    "REPEATABLE",
    "TEMPLATES",
    "TYPE_NAMES",
    "Article",
    "KindPlan",
    "NamePools",
    "Plan",
    "SyntheticSource",
    "build_plan",
    "transition_entropies",
]


@corpus_sources.register("synthetic")
class SyntheticSource(CorpusSource):
    """Seeded encyclopedia-like articles whose sentences carry their true writing action."""

    version = "1"

    class Params(SourceParams):
        n_articles: int = Field(3000, ge=1, le=10_000_000)
        min_sentences: int = Field(4, ge=1, description="shortest article, in sentences")
        max_sentences: int = Field(14, ge=1, le=200, description="longest article, in sentences")
        n_types: int = Field(
            len(TYPE_NAMES), ge=8, le=len(TYPE_NAMES), description="sentence types used: ids 0..n_types-1"
        )
        seed_offset: int = Field(0, description="added to the corpus seed: other articles, same plan")
        plan_seed: int = Field(0, description="the plan: transition weights and the shared name pools")

        @model_validator(mode="after")
        def _range(self) -> SyntheticSource.Params:
            if self.min_sentences > self.max_sentences:
                raise ValueError(
                    f"min_sentences ({self.min_sentences}) > max_sentences ({self.max_sentences})"
                )
            return self

    params: Params

    def n_actions(self) -> int:
        return self.params.n_types

    def plan(self) -> Plan:
        return build_plan(self.params.n_types, self.params.plan_seed)

    def load(self, seed: int) -> dict[str, list[Document]]:
        p = self.params
        plan = self.plan()
        pools = NamePools.build(p.plan_seed)
        samplers = {k: _LengthSampler(plan.kinds[k], p.min_sentences, p.max_sentences, k) for k in KINDS}
        docs = []
        for i in range(p.n_articles):
            rng = random.Random(f"planeval-synthetic:{seed}:{p.seed_offset}:{i}")
            kind = KINDS[rng.randrange(len(KINDS))]
            actions = samplers[kind].sample(rng)
            art = Article(kind, rng, pools)
            sentences = tuple(art.write_type(t) for t in actions)
            docs.append(
                Document(
                    id=f"syn-{i:06d}",
                    text=" ".join(sentences),
                    sentences=sentences,
                    actions=tuple(actions),
                    meta={"kind": kind, "entity": art.slot("name")},
                )
            )
        return {"all": docs}
