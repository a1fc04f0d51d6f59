"""The plan as a graph of stages (``harness.runner.Plan`` → ``Stage``s, dependencies first).

A stage is one unit a back end runs: the main corpus and each named corpus used, the tokenizer, each
requested derived artifact, each train key (variants that share a training share its stage), each
eval key. Its id, ``<kind>/<key>``, is the same in every process that plans the same suite, so a worker
given an id re-plans and builds exactly that stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.errors import SpecError
from harness.executors.resources import DEFAULTS, KINDS, Resources, declared
from harness.runner import EvalRef, ModelRef, Plan
from harness.sizes import EVAL_UNITS, TRAIN_UNITS, units
from harness.specs import ResourceSpec


@dataclass
class Stage:
    id: str
    kind: str  # one of resources.KINDS
    label: str
    #: the cache folder it is published in (``<home>/cache/<dir>/<key>``) and its key
    dir: str
    key: str
    deps: tuple[str, ...]
    resources: Resources
    #: the corpus or artifact name (None: the main corpus), the model or the evaluations it builds
    name: str | None = None
    model: ModelRef | None = None
    evals: list[EvalRef] = field(default_factory=list)
    #: a size the time estimate scales by (training: steps × batch × sequence; evaluation: samples)
    size: float | None = None


def check_resources(plan: Plan) -> None:
    """Every key of the suite's ``resources:`` names a stage kind, a variant or a task label."""
    labels = {t.label for t in plan.suite.tasks}
    for name in plan.suite.resources:
        if name not in KINDS and name not in plan.suite.variants and name not in labels:
            raise SpecError(
                plan.source,
                f"resources.{name}",
                f"is neither a stage kind ({', '.join(KINDS)}), a variant nor a task label of this suite",
            )


def build_graph(plan: Plan, profile: dict[str, ResourceSpec] | None = None) -> dict[str, Stage]:
    """Every stage of the plan by id, each after the stages it reads. Resources: the kind's default, what
    the trainer or task declares, the profile's kind default, the suite's by kind, then by name, then the
    variant's or task entry's own."""
    check_resources(plan)
    by_name = plan.suite.resources
    cluster = profile or {}
    stages: dict[str, Stage] = {}

    def request(
        kind: str, own: Any = None, name: str | None = None, impl: Any = None, arg: Any = None
    ) -> Resources:
        return DEFAULTS[kind].merged(
            declared(impl, arg) if impl is not None else None,
            cluster.get(kind),
            by_name.get(kind),
            by_name.get(name) if name else None,
            own,
        )

    def corpus(name: str | None) -> str:
        key = plan.corpus_keys[name] if name else plan.corpus_key
        sid = f"corpus/{key}"
        if sid not in stages:
            label = (
                plan.suite.corpus.source if name is None else f"{plan.suite.corpora[name].source} ({name})"
            )
            stages[sid] = Stage(sid, "corpus", label, "corpus", key, (), request("corpus"), name=name)
        return sid

    def tokenizer() -> str:
        sid = f"tokenizer/{plan.tokenizer_key}"
        if sid not in stages:
            deps = (corpus(None),)
            res = request("tokenizer")
            label = plan.suite.tokenizer.kind
            stages[sid] = Stage(sid, "tokenizer", label, "tokenizer", plan.tokenizer_key, deps, res)
        return sid

    def artifact(name: str) -> str:
        a = plan.artifacts[name]
        sid = f"artifact/{a.key}"
        if sid not in stages:
            res = request("artifact", name=name)
            label = f"{name}: {a.stage.label(a.spec)}"
            stages[sid] = Stage(sid, "artifact", label, name, a.key, (corpus(None),), res, name=name)
        return sid

    def train(m: ModelRef) -> str | None:
        if m.pretrained:
            return None
        sid = f"train/{m.train_key}"
        if sid not in stages:
            deps = [corpus(m.corpus), tokenizer(), *(artifact(n) for n in m.artifacts)]
            deps += [d for r in m.requires.values() if (d := train(r))]
            res = request("train", m.variant.resources, m.variant.name, m.trainer, m.config)
            stages[sid] = Stage(
                sid, "train", m.label, "train", m.train_key, tuple(dict.fromkeys(deps)), res, model=m,
                size=units(m.config, TRAIN_UNITS),
            )  # fmt: skip
        return sid

    for top in plan.models:
        for m in [*top.upstream(), top]:
            train(m)
    for e in plan.evals:
        sid = f"eval/{e.key}"
        if sid not in stages:
            deps = [corpus(e.corpus), *(artifact(n) for n in e.artifacts)]
            deps += [d for d in [train(e.model)] if d]
            res = request("eval", e.task.resources, e.task.label, e.impl, e.params)
            stages[sid] = Stage(
                sid, "eval", e.label, "eval", e.key, tuple(dict.fromkeys(deps)), res, model=e.model,
                size=units(e.params, EVAL_UNITS),
            )  # fmt: skip
        stages[sid].evals.append(e)
    return stages
