"""Plan sources: where the plan of each training tuple comes from (docs/families/plan_tuned.md).

* ``gold``: the plan the corpus carries (the arithmetic generator's decomposition; for GSM8K documents
  the reference steps).
* ``gsm8k``: one sub-goal per line of the GSM8K reference solution, calculator annotations
  ``<<48/2=24>>`` kept or stripped; ``form: goal`` also drops each step's computed result (``48/2 =
  24`` → ``48/2``), so the plan says what to compute and leaves the computing to the execution.
* ``teacher`` (``teacher.py``): any causal LM, best-of-N sampling, a verifier on the answer.

A source maps documents to examples (``MathExample``) and reports what it did (``stats``). Sources are a
registry with an entry-point group (``planeval.plan_sources``), so a package can add one.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from harness.corpus import Document
from harness.corpus.arithmetic.gsm8k import parse_gsm8k_steps, strip_annotations
from harness.registry import Registry
from trainers.plan_tuning.data import MathExample


class PlanParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class PlanResult:
    examples: list[MathExample]
    stats: dict[str, Any] = field(default_factory=dict)


class PlanSource(ABC):
    Params: ClassVar[type[BaseModel]] = PlanParams
    #: part of the model key: bump when a source's output changes
    version: ClassVar[str] = "1"

    def __init__(self, params: BaseModel):
        self.params = params

    @abstractmethod
    def plans(
        self,
        docs: Sequence[Document],
        *,
        seed: int,
        log: Callable[[str], None] = print,
        progress: bool = False,
    ) -> PlanResult: ...


PLAN_SOURCES: Registry[type[PlanSource]] = Registry(
    "plan source", "planeval.plan_sources", builtin_packages=("trainers.plan_tuning",)
)


PLANS_FILE = "plans.json"


def _example(record: dict[str, Any]) -> MathExample:
    return MathExample(**{**record, "plan": tuple(record["plan"]), "execution": tuple(record["execution"])})


def cached_plans(ctx: Any, compute: Callable[[], PlanResult]) -> PlanResult:
    """The plans of a training run, computed once and kept with its checkpoints, so a resumed run does
    not ask a teacher again (hours on a real model) and trains on exactly the same tuples."""
    path = Path(ctx.checkpoint_dir) / PLANS_FILE
    if path.is_file():
        data = json.loads(path.read_text())
        examples = [_example(e) for e in data["examples"]]
        ctx.log(f"[plans] reusing the {len(examples)} plans of the interrupted run")
        return PlanResult(examples, data["stats"])
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"examples": [asdict(e) for e in result.examples], "stats": result.stats}))
    tmp.replace(path)
    return result


def make_plan_source(name: str, params: dict[str, Any]) -> PlanSource:
    cls = PLAN_SOURCES.get(name)
    return cls(cls.Params.model_validate(params))


@PLAN_SOURCES.register("gold")
class GoldPlans(PlanSource):
    """The corpus's own plans."""

    def plans(self, docs, *, seed, log=print, progress=False) -> PlanResult:
        return PlanResult([MathExample.from_document(d) for d in docs], {"source": "gold", "n": len(docs)})


#: ``= <<48/2=24>>24`` (a result with its annotation), ``<<48/2=24>>24`` (an annotated result standing
#: alone: the expression replaces it) and ``= 24`` (a bare result)
_ANNOTATED_RESULT = re.compile(r"\s*=\s*\$?\s*<<[^<>]*>>\s*\$?\s*-?[\d,]*\.?\d+")
_LONE_ANNOTATION = re.compile(r"<<([^<>=]*)=[^<>]*>>\s*\$?-?[\d,]*\.?\d+")
_BARE_RESULT = re.compile(r"\s*=\s*\$?\s*-?[\d,]*\.?\d+(?![\d.])")


def step_goal(step: str) -> str:
    """A GSM8K step without its computed result: ``Natalia sold 48/2 = <<48/2=24>>24 clips.`` →
    ``Natalia sold 48/2 clips.``"""
    goal = _ANNOTATED_RESULT.sub("", step)
    goal = _LONE_ANNOTATION.sub(lambda m: m[1], goal)
    goal = _BARE_RESULT.sub("", goal)
    return " ".join(strip_annotations(goal).split())


def gsm8k_plan(
    solution: str, annotations: Literal["keep", "strip"] = "strip", form: Literal["step", "goal"] = "step"
) -> list[str]:
    """The plan of a GSM8K reference solution: its steps, one per line, annotations kept or stripped
    (``form: step``), or each step with its result removed (``form: goal``, annotations resolved)."""
    if form == "goal":
        steps, _ = parse_gsm8k_steps(solution, "keep")
        return [g for g in map(step_goal, steps) if g]
    steps, _ = parse_gsm8k_steps(solution, annotations)
    return steps


@PLAN_SOURCES.register("gsm8k")
class GSM8KPlans(PlanSource):
    """Plans parsed from GSM8K reference solutions (``meta["reference"]``, else ``meta["solution"]``)."""

    class Params(PlanParams):
        annotations: Literal["keep", "strip"] = "strip"
        form: Literal["step", "goal"] = "step"

    params: Params

    def plans(self, docs, *, seed, log=print, progress=False) -> PlanResult:
        out = []
        for d in docs:
            ex = MathExample.from_document(d)
            solution = d.meta.get("reference") or d.meta.get("solution")
            if not solution:
                raise ValueError(f"document {d.id}: no reference solution to parse a plan from")
            plan = gsm8k_plan(solution, self.params.annotations, self.params.form)
            out.append(replace(ex, plan=tuple(plan)))
        return PlanResult(out, {"source": "gsm8k", "n": len(out), **self.params.model_dump()})
