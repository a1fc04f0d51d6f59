"""Plan a suite into content-addressed stages and run what is not cached (docs/stages.md).

corpus ─► tokenizer ─► derived artifacts ─► train(variant, seed) ─► eval(task, variant, seed) ─► row

Derived artifacts (``harness.stages``) are built only when a trainer or task requests them; models
named ``<prefix>:<target>`` come from a registered loader (``harness.loaders``) instead of a trainer.

Every stage key is ``hash(stage, code version, spec, input keys)``; the model key is part of every
evaluation key. Planning validates every name and parameter first, so a bad suite fails before any
work or write. Training resumes from its last checkpoint after a kill; evaluation stages are atomic.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError

from harness.adapters import CORE_CAPABILITIES, PlanevalLM
from harness.cache import Built, Cache
from harness.catalog import VARIANTS
from harness.corpus import Corpus, build_corpus, load_corpus, save_corpus
from harness.corpus.base import make_source
from harness.errors import PlanevalError, SpecError, UnknownNameError
from harness.finite import NonFiniteError
from harness.hashing import stable_hash
from harness.loaders import LOADERS, LoadedModel, split_reference
from harness.pretrained import MODEL_FILES, TOKENIZER_FILES, check_source
from harness.provenance import git_commit, package_versions
from harness.sizes import EVAL_UNITS, TRAIN_UNITS, units
from harness.specs import CorpusSpec, SuiteSpec, TaskSpec, VariantSpec, validate
from harness.stages import DERIVED, DerivedStage
from harness.summary import summarize
from harness.threads import adapt as adapt_threads
from harness.tokenizer import build_tokenizer, load_tokenizer
from harness.tracking import EvalLog, Trackers, TrainingLog
from leaderboard.store import MetricRecord, RunRecord, Store, check_writable
from tasks.base import TASKS, Task, TaskContext
from trainers.base import TRAINERS, TrainContext, Trainer
from trainers.checkpointing import latest_checkpoint
from trainers.history import read_history

CORPUS_VERSION = "2"  # 2: document meta persisted
TOKENIZER_VERSION = "1"


@dataclass
class ArtifactRef:
    """A derived stage of the plan: its registered builder, validated spec and key."""

    name: str
    stage: DerivedStage
    spec: BaseModel
    key: str


@dataclass
class ModelRef:
    """A model to evaluate: a trained variant at a seed, or one from a registered loader (``hf:…``)."""

    variant: VariantSpec
    seed: int
    key: str
    config: BaseModel | None = None  # the trainer's validated Config (None for a loaded model)
    trainer: Trainer | None = None
    #: a model no trainer builds: ``(loader prefix, what planning learnt about it)``
    pretrained: tuple[str, LoadedModel] | None = None
    #: the model's context (max positions) when known at plan time, for checking lengths before work
    context: int | None = None
    #: what the model's adapter can do (``harness.adapters.CAPABILITIES``), known at plan time
    capabilities: frozenset[str] = frozenset()
    #: derived artifacts its training needs, by stage name
    artifacts: tuple[str, ...] = ()
    #: the named suite corpus it trains on (``SuiteSpec.corpora``); None: the main corpus
    corpus: str | None = None
    #: the train stage's key: ``key`` without the evaluation-only config fields
    #: (``Trainer.eval_fields``), so variants differing only in how they are evaluated train once
    train_key: str = ""

    def __post_init__(self) -> None:
        self.train_key = self.train_key or self.key

    #: upstream train stages this model builds on (``Trainer.requires``), by requirement name
    requires: dict[str, ModelRef] = field(default_factory=dict)
    #: the row label in tables when it is not the variant's name (a loader's ``name=`` option)
    display: str | None = None

    @property
    def row_name(self) -> str:
        return self.display or self.variant.name

    @property
    def label(self) -> str:
        return f"{self.row_name} seed={self.seed}"

    def upstream(self) -> list[ModelRef]:
        """Every required stage, dependencies first, each once."""
        out: dict[str, ModelRef] = {}
        for r in self.requires.values():
            for u in [*r.upstream(), r]:
                out.setdefault(u.key, u)
        return list(out.values())


@dataclass
class EvalRef:
    model: ModelRef
    task: TaskSpec
    impl: Task
    params: BaseModel
    key: str
    run_id: str
    config_hash: str
    artifacts: tuple[str, ...] = ()  # derived artifacts the task needs, by stage name
    corpus: str | None = None  # the named suite corpus the task reads; None: the main corpus
    limit: int | None = None  # ``planeval run --limit N``: at most N items (part of the key)

    @property
    def label(self) -> str:
        return f"{self.task.label} × {self.model.label}"


@dataclass
class Plan:
    suite: SuiteSpec
    source: str
    corpus_key: str
    tokenizer_key: str
    models: list[ModelRef]
    evals: list[EvalRef]
    #: key of each named corpus (``SuiteSpec.corpora``), all checked, built only when used
    corpus_keys: dict[str, str] = field(default_factory=dict)
    #: the derived stages some trainer or task of the plan requests (only those are built)
    artifacts: dict[str, ArtifactRef] = field(default_factory=dict)
    #: (task label × variant label, why) for each pair left out because the model lacks a capability
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: ``planeval run --limit N``: N items per task, a quick look kept out of default tables
    limit: int | None = None


@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


# -- planning ---------------------------------------------------------------------------------------


#: where a merged trainer param came from: (file, dotted field prefix) — a fault is reported there
Origins = dict[str, tuple[str, str]]


def _resolve_variant(name: str, suite: SuiteSpec, source: str) -> tuple[VariantSpec, Origins]:
    """The variant's params, then the suite's ``trainer_params`` for its trainer, then its overrides,
    with the origin of every top-level param (so a bad override blames the suite, not the variant)."""
    spec = VARIANTS.get(name)
    where = VARIANTS.source(name)
    preset = suite.trainer_params.get(spec.trainer, {})
    override = suite.overrides.get(name, {})
    origins: Origins = {k: (where, "params") for k in spec.params}
    origins.update({k: (source, f"trainer_params.{spec.trainer}") for k in preset})
    origins.update({k: (source, f"overrides.{name}") for k in override})
    if preset or override:
        spec = spec.model_copy(update={"params": {**spec.params, **preset, **override}})
    return spec, origins


def _validate_config(
    config_cls: type[BaseModel], params: dict[str, Any], where: str, origins: Origins
) -> Any:
    """Validate merged params; a fault is reported in the file and field its value came from."""
    try:
        return config_cls.model_validate(params)
    except ValidationError:
        pass
    try:
        validate(config_cls, params, where, prefix="params")
    except SpecError as err:
        top = err.field.split(".")[1] if err.field.count(".") >= 1 else ""
        if top in origins:
            src, prefix = origins[top]
            rest = err.field.split(".", 1)[1]
            raise SpecError(src, f"{prefix}.{rest}", err.problem) from None
        # a whole-config rule (no single field): blame the last layer that changed the params
        layered = [(k, o) for k, o in origins.items() if o[0] != where]
        if layered:
            src, prefix = layered[-1][1]
            keys = [k for k, o in layered if o == (src, prefix)]
            field = f"{prefix}.{keys[0]}" if len(keys) == 1 else prefix
            raise SpecError(src, field, err.problem) from None
        raise
    raise AssertionError("unreachable: model_validate failed but validate passed")  # pragma: no cover


def _blame(origins: Origins, field: str, where: str) -> tuple[str, str]:
    src, prefix = origins.get(field, (where, "params"))
    return src, f"{prefix}.{field}"


class _ArtifactPlanner:
    """Resolves requested derived stages: registered name, the suite's spec for it, its key."""

    def __init__(self, suite: SuiteSpec, source: str, corpus_key: str):
        self.suite, self.source, self.corpus_key = suite, source, corpus_key
        self.requested: dict[str, ArtifactRef] = {}
        for name, params in suite.artifacts.items():  # every configured entry is checked, used or not
            self._resolve(name, params, (source, f"artifacts.{name}"))

    def _resolve(self, name: str, params: dict[str, Any], at: tuple[str, str]) -> ArtifactRef:
        with _named(*at):
            stage = DERIVED.get(name)()
        spec = validate(stage.Spec, params, self.source, prefix=f"artifacts.{name}")
        key = stable_hash(name, stage.version, spec, self.corpus_key)
        return ArtifactRef(name, stage, spec, key)

    def request(self, names: tuple[str, ...], at: tuple[str, str]) -> list[str]:
        """The keys of the named artifacts (in name order), each planned and checked once."""
        for name in names:
            if name not in self.requested:
                ref = self._resolve(name, self.suite.artifacts.get(name, {}), at)
                ref.stage.check(ref.spec, self.source, f"artifacts.{name}")
                self.requested[name] = ref
        return [self.requested[n].key for n in sorted(names)]


class _ModelPlanner:
    """Builds ``ModelRef``s with their keys, resolving ``Trainer.requires`` recursively."""

    def __init__(
        self,
        suite: SuiteSpec,
        source: str,
        corpus_keys: dict[str | None, str],
        tokenizer_key: str,
        artifacts: _ArtifactPlanner,
    ):
        self.suite, self.source = suite, source
        self.corpus_keys, self.tokenizer_key, self.artifacts = corpus_keys, tokenizer_key, artifacts
        self.seen: set[str] = set()  # every variant name planned, requirements included
        self.trainers: set[str] = set()  # every trainer planned, requirements included
        self._loaded: dict[str, ModelRef] = {}

    def variant(
        self, name: str, seed: int | None, stack: tuple[str, ...] = (), at: tuple[str, str] | None = None
    ) -> list[ModelRef]:
        """The models of a variant (one per seed); ``at``: the (file, field) that named it."""
        if (ref := split_reference(name)) is not None:
            if name not in self._loaded:
                prefix, target = ref
                loaded = LOADERS.get(prefix)().plan(target, *(at or (self.source, "variants")))
                spec = VariantSpec(
                    name=name, family=loaded.family, trainer=prefix, description=loaded.identity
                )
                self._loaded[name] = ModelRef(
                    spec, 0, stable_hash(prefix, loaded.identity), pretrained=(prefix, loaded),
                    context=loaded.context, capabilities=loaded.capabilities, display=loaded.label,
                )  # fmt: skip
            base = self._loaded[name]
            return [replace(base, seed=s) for s in self._seeds(seed)]
        self.seen.add(name)
        spec, origins = _resolve_variant(name, self.suite, self.source)
        where = VARIANTS.source(name)
        return [self.model(spec, where, s, stack, origins) for s in self._seeds(seed, spec.seed)]

    def _seeds(self, seed: int | None, default: int = 0) -> list[int]:
        if seed is not None:
            return [seed]
        return list(self.suite.seeds or [default])

    def model(
        self, spec: VariantSpec, where: str, seed: int, stack: tuple[str, ...], origins: Origins | None = None
    ) -> ModelRef:
        if spec.name in stack:
            raise SpecError(where, "params", f"requirement cycle: {' -> '.join([*stack, spec.name])}")
        origins = origins or {}
        trainer_cls = TRAINERS.get(spec.trainer)
        self.trainers.add(spec.trainer)
        config = _validate_config(trainer_cls.Config, spec.params, where, origins)
        trainer = trainer_cls()
        for fld, name in trainer.pretrained(config).items():
            check_source(name, *_blame(origins, fld, where), "model", MODEL_FILES)
        requires: dict[str, ModelRef] = {}
        for req_name, req in trainer.requires(config).items():
            if req.variant is not None:
                src, fld = _blame(origins, req_name, where)
                if split_reference(req.variant) is None:
                    with _named(src, fld):
                        VARIANTS.get(req.variant)  # an unknown base: the valid names, a close match
                requires[req_name] = self.variant(req.variant, seed, (*stack, spec.name), (src, fld))[0]
            else:
                sub = VariantSpec(
                    name=f"{req_name}[{req.trainer}]",
                    family=req.family,
                    trainer=str(req.trainer),
                    params=req.params,
                )
                requires[req_name] = self.model(sub, where, seed, (*stack, spec.name))
        context = trainer.context_length(config, {n: r.context for n, r in requires.items()})
        if context is not None:
            for fld, need in trainer.context_needs(config).items():
                if need > context:
                    raise SpecError(
                        *_blame(origins, fld, where),
                        f"{need} exceeds the model's context of {context} positions ({spec.name})",
                    )
        corpus = trainer.corpus(config)
        if corpus not in self.corpus_keys:
            raise SpecError(*_blame(origins, "corpus", where), _no_corpus(corpus, self.suite))
        artifacts = tuple(sorted(trainer.artifacts(config)))
        artifact_keys = self.artifacts.request(artifacts, (where, "trainer"))
        eval_only = {f: getattr(config, f) for f in trainer_cls.eval_fields}
        train_key = stable_hash(
            "train",
            spec.trainer,
            trainer_cls.version,
            spec.family,
            trainer.train_identity(config),
            seed,
            self.corpus_keys[corpus],
            self.tokenizer_key,
            trainer.fingerprint(config),
            *artifact_keys,
            *([{n: r.train_key for n, r in sorted(requires.items())}] if requires else []),
        )
        key = stable_hash("model", train_key, eval_only) if eval_only else train_key
        return ModelRef(
            spec, seed, key, config=config, trainer=trainer, requires=requires, context=context,
            train_key=train_key, capabilities=_trained_capabilities(trainer, config), artifacts=artifacts,
            corpus=corpus,
        )  # fmt: skip


def _trained_capabilities(trainer: Trainer, config: BaseModel) -> frozenset[str]:
    """A trainer's model is a ``PlanevalLM`` implementing the primitives (``score_spans``, ``generate``), so
    it has the core capabilities they give, besides those its trainer reports."""
    return CORE_CAPABILITIES | frozenset(trainer.capabilities(config))


def _check_tokenizer(suite: SuiteSpec, source: str) -> None:
    """An HF tokenizer must be loadable before any work."""
    tok = suite.tokenizer
    if tok.kind == "hf":
        if tok.name_or_path is None:
            raise SpecError(source, "tokenizer.name_or_path", "kind 'hf' needs a Hub id or a local folder")
        check_source(tok.name_or_path, source, "tokenizer.name_or_path", "tokenizer", TOKENIZER_FILES)


@contextmanager
def _named(source: str, field: str) -> Iterator[None]:
    """An unknown registered name is reported at the file and field that gave it."""
    try:
        yield
    except UnknownNameError as exc:
        raise SpecError(source, field, str(exc)) from None


def plan_suite(suite: SuiteSpec, source: str = "suite", limit: int | None = None) -> Plan:
    """Validate a suite completely and compute every stage key. Writes nothing.

    Every check a run could fail on because of its input happens here: names, params (reported in the
    file and field they came from), lengths against each model's context, pretrained folders and Hub
    ids (offline), unused ``trainer_params``/``overrides``. ``limit``: at most that many items per task
    (``Task.limit_params``), a quick look whose keys and rows are marked.
    """
    corpus_key = _corpus_key(suite.corpus, source, "corpus")
    corpus_keys: dict[str | None, str] = {None: corpus_key}
    for name, spec in suite.corpora.items():
        corpus_keys[name] = _corpus_key(spec, source, f"corpora.{name}")
    tokenizer_key = stable_hash("tokenizer", TOKENIZER_VERSION, suite.tokenizer, corpus_key)
    artifacts = _ArtifactPlanner(suite, source, corpus_key)
    for trainer in suite.trainer_params:
        with _named(source, f"trainer_params.{trainer}"):
            TRAINERS.get(trainer)  # a typo fails with the list of trainers
    planner = _ModelPlanner(suite, source, corpus_keys, tokenizer_key, artifacts)
    models: list[ModelRef] = []
    for j, name in enumerate(suite.variants):
        with _named(source, f"variants.{j}"):
            VARIANTS.get(name) if split_reference(name) is None else None
        models.extend(planner.variant(name, None, at=(source, f"variants.{j}")))
    _check_labels(models, source)
    unused = sorted(set(suite.trainer_params) - planner.trainers)
    if unused:
        raise SpecError(
            source,
            f"trainer_params.{unused[0]}",
            f"no variant of this suite uses trainer {unused[0]!r} "
            f"(used: {', '.join(sorted(planner.trainers)) or 'none'})",
        )
    unknown = sorted(set(suite.overrides) - planner.seen)
    if unknown:
        raise SpecError(
            source,
            f"overrides.{unknown[0]}",
            "names a variant that is neither in 'variants' nor required by one",
        )

    evals: list[EvalRef] = []
    skipped: list[tuple[str, str]] = []
    for i, task_spec in enumerate(suite.tasks):
        with _named(source, f"tasks.{i}.name"):
            task_cls = TASKS.get(task_spec.name)
        params = validate(task_cls.Params, task_spec.params, source, prefix=f"tasks.{i}.params")
        task = task_cls()
        if limit is not None:
            params = _limited(task, params, task_spec, limit, source, i)
        if task_spec.corpus not in corpus_keys:
            raise SpecError(source, f"tasks.{i}.corpus", _no_corpus(task_spec.corpus, suite))
        needs = frozenset(task.needs(params))
        task_artifacts = tuple(sorted(task.artifacts(params)))
        only = _task_variants(suite, task_spec, i, source)
        lengths = task.context_needs(params)
        for m in models:
            if only is not None and m.variant.name not in only:
                continue
            if missing := sorted(needs - m.capabilities):
                why = f"{m.variant.name} lacks {', '.join(missing)}"
                if task_spec.on_incapable == "skip":
                    skipped.append((f"{task_spec.label} × {m.label}", why))
                    continue
                raise SpecError(
                    source,
                    f"tasks.{i}",
                    f"{task_spec.name} needs the capability {', '.join(missing)}, which {m.variant.name} "
                    f"(trainer {m.variant.trainer}) does not have: restrict the task with 'variants:' or "
                    "set 'on_incapable: skip'",
                )
            for fld, need in lengths.items():
                if m.context is not None and need > m.context:
                    raise SpecError(
                        source,
                        f"tasks.{i}.params.{fld}",
                        f"needs {need} positions but {m.variant.name} has a context of {m.context}",
                    )
            config_hash = stable_hash(
                suite.corpus,
                suite.tokenizer,
                m.variant.trainer,
                m.config or (m.pretrained[1].identity if m.pretrained else None),
                m.seed,
                task_spec.name,
                params,
            )
            key = stable_hash(
                "eval",
                task_spec.name,
                task_cls.version,
                params,
                m.seed,
                m.key,
                corpus_keys[task_spec.corpus],
                *artifacts.request(task_artifacts, (source, f"tasks.{i}.name")),
                *([fp] if (fp := task.fingerprint(params)) else []),
                *([{"limit": limit}] if limit is not None else []),
            )
            # the variant name is in the run id: identical configs under two names stay two rows
            run_id = stable_hash("run", suite.name, task_spec.label, m.variant.name, key)
            evals.append(
                EvalRef(
                    m,
                    task_spec,
                    task_cls(),
                    params,
                    key,
                    run_id,
                    config_hash,
                    task_artifacts,
                    task_spec.corpus,
                    limit,
                )
            )
    _check_tokenizer(suite, source)
    named = {n: k for n, k in corpus_keys.items() if n is not None}
    return Plan(
        suite, source, corpus_key, tokenizer_key, models, evals, named, dict(artifacts.requested), skipped,
        limit,
    )  # fmt: skip


def _limited(task: Task, params: BaseModel, spec: TaskSpec, limit: int, source: str, i: int) -> BaseModel:
    """The task's params with each item count (``Task.limit_params``) at most ``limit`` (an unset one,
    meaning all, set to it), validated again: the task's own pickers then draw their seeded subset."""
    if not task.limit_params:
        raise SpecError(
            source,
            f"tasks.{i}",
            f"--limit: task {spec.name} declares no item count to limit (Task.limit_params)",
        )
    counts = {f: min(getattr(params, f) or limit, limit) for f in task.limit_params}
    return validate(
        type(params), {**spec.params, **counts}, f"{source} (--limit {limit})", prefix=f"tasks.{i}.params"
    )


def _check_labels(models: list[ModelRef], source: str) -> None:
    """Row labels (``name=`` options) must tell the suite's variants apart."""
    seen: dict[str, str] = {}
    for m in models:
        other = seen.setdefault(m.row_name, m.variant.name)
        if other != m.variant.name:
            raise SpecError(
                source, "variants", f"two variants are labelled {m.row_name!r}: {other} and {m.variant.name}"
            )


def _corpus_key(spec: CorpusSpec, source: str, field: str) -> str:
    """The key of a corpus stage, after its source and params are checked (offline, no work)."""
    with _named(source, f"{field}.source"):
        corpus_source = make_source(spec, source, field)
    corpus_source.check()
    return stable_hash("corpus", CORPUS_VERSION, corpus_source.version, spec, corpus_source.fingerprint())


def _no_corpus(name: str | None, suite: SuiteSpec) -> str:
    valid = ", ".join(sorted(suite.corpora)) or "none: add it under 'corpora:'"
    return f"no corpus named {name!r} in this suite (named corpora: {valid})"


def _task_variants(suite: SuiteSpec, task: TaskSpec, i: int, source: str) -> set[str] | None:
    """The variants a task is restricted to (``None``: all), each checked to be one of the suite's."""
    if task.variants is None:
        return None
    for j, name in enumerate(task.variants):
        if name not in suite.variants:
            raise SpecError(
                source,
                f"tasks.{i}.variants.{j}",
                f"{name!r} is not a variant of this suite (valid: {', '.join(suite.variants)})",
            )
    return set(task.variants)


# -- running ----------------------------------------------------------------------------------------


class Runner:
    """Runs a plan against a cache folder and a leaderboard store."""

    def __init__(
        self,
        home: Path,
        db_url: str | None = None,
        progress: bool = True,
        log: Callable[[str], None] = print,
        log_to: list[str] | None = None,
        threads_share: int = 1,
    ):
        self.home = Path(home)
        #: stages this process runs beside on one machine (an executor's parallel workers): each stage's
        #: torch threads are the free cores divided by it (``harness.threads``)
        self.threads_share = threads_share
        self.cache = Cache(self.home / "cache", log=log)
        self.db_url = db_url or f"sqlite:///{self.home / 'leaderboard.db'}"
        self.progress = progress
        self.log = log
        #: the experiment trackers this run logs to (``harness.tracking``; names checked by the CLI)
        self.log_to = list(log_to or [])
        self._corpora: dict[str | None, Corpus] = {}
        self._tokenizer: Any = None
        self._artifacts: dict[str, Any] = {}
        self._models: dict[str, PlanevalLM] = {}

    # -- what is cached ---------------------------------------------------------------------------
    def describe(self, plan: Plan) -> str:
        """The stage plan with each stage's key and state (the ``--dry-run`` output)."""
        rows = [
            ("corpus", plan.suite.corpus.source, plan.corpus_key, self._state("corpus", plan.corpus_key)),
            (
                "tokenizer",
                plan.suite.tokenizer.kind,
                plan.tokenizer_key,
                self._state("tokenizer", plan.tokenizer_key),
            ),
        ]
        used = {m.corpus for top in plan.models for m in [*top.upstream(), top]} | {
            e.corpus for e in plan.evals
        }
        for name in sorted(n for n in used if n):
            key = plan.corpus_keys[name]
            rows.append(
                ("corpus", f"{plan.suite.corpora[name].source} ({name})", key, self._state("corpus", key))
            )
        for name, a in sorted(plan.artifacts.items()):
            rows.append((name, a.stage.label(a.spec), a.key, self._state(name, a.key)))
        seen: set[str] = set()
        trained: dict[str, str] = {}  # train key -> the first model label that trains it
        for m in [u for top in plan.models for u in [*top.upstream(), top]]:
            if m.key in seen:
                continue
            seen.add(m.key)
            if m.pretrained:
                rows.append(("model", m.label, m.key, f"{m.pretrained[0]}: loaded, no training"))
                continue
            state = self._state("train", m.train_key)
            if state == "to run":
                step = _latest_step(self.cache.partial("train", m.train_key))
                state = f"resume from step {step}" if step else state
            if m.train_key in trained:
                state = f"shares the training of {trained[m.train_key]}"
            trained.setdefault(m.train_key, m.label)
            rows.append(("train", m.label, m.train_key, state))
        for e in plan.evals:
            rows.append(("eval", e.label, e.key, self._state("eval", e.key)))
        for label, why in plan.skipped:
            rows.append(("skip", label, "-" * 16, f"not run: {why}"))
        width = max(len(r[1]) for r in rows)
        lines = [f"suite {plan.suite.name} ({plan.source}): {len(rows)} stages"]
        lines += [f"  {k:<9} {label:<{width}}  {key}  {state}" for k, label, key, state in rows]
        return "\n".join(lines)

    def _state(self, stage: str, key: str) -> str:
        verdict = self.cache.inspect(stage, key)  # changes nothing: a dry run moves no stage aside
        if verdict.present and not verdict.ok:
            return f"corrupt, will rebuild ({verdict.problem})"
        return "cached" if verdict.ok else "to run"

    # -- stages -----------------------------------------------------------------------------------
    def corpus(self, plan: Plan, name: str | None = None) -> Corpus:
        """The main corpus, or the named one (``SuiteSpec.corpora``), built and cached on first use."""
        if name not in self._corpora:
            spec = plan.suite.corpus if name is None else plan.suite.corpora[name]
            key = plan.corpus_key if name is None else plan.corpus_keys[name]

            def fill(b: Built) -> None:  # runs in one process only, under the stage's lease
                self.log(f"[corpus] building {spec.source}" + (f" ({name})" if name else ""))
                corpus = build_corpus(spec, plan.source)
                save_corpus(corpus, b.dir / "corpus.parquet")
                b.manifest["sizes"] = corpus.sizes()

            self.cache.ensure("corpus", key, {"spec": spec.model_dump()}, fill)
            self._corpora[name] = load_corpus(spec, self.cache.path("corpus", key) / "corpus.parquet")
        return self._corpora[name]

    def tokenizer(self, plan: Plan) -> Any:
        if self._tokenizer is None:
            key = plan.tokenizer_key

            def fill(b: Built) -> None:
                corpus = self.corpus(plan)
                self.log(f"[tokenizer] {plan.suite.tokenizer.kind} vocab={plan.suite.tokenizer.vocab_size}")
                build_tokenizer(plan.suite.tokenizer, corpus, b.dir / "tokenizer")

            self.cache.ensure("tokenizer", key, {"spec": plan.suite.tokenizer.model_dump()}, fill)
            self._tokenizer = load_tokenizer(self.cache.path("tokenizer", key) / "tokenizer")
        return self._tokenizer

    def artifact(self, plan: Plan, name: str) -> Any:
        """A requested derived artifact, built and cached on first use, loaded once per run."""
        if name not in self._artifacts:
            a = plan.artifacts[name]

            def fill(b: Built) -> None:  # runs in one process only, under the stage's lease
                from threadpoolctl import threadpool_limits

                corpus = self.corpus(plan)
                # torch's threads and the native pools' (scikit-learn's k-means): a derived artifact's low
                # bits depend on its thread count, so it is the stage's wherever the stage runs
                b.manifest["threads"] = threads = adapt_threads(self.threads_share)
                with threadpool_limits(limits=threads):
                    b.manifest["info"] = a.stage.build(
                        corpus, a.spec, b.dir, log=self.log, progress=self.progress
                    )

            self.cache.ensure(name, a.key, {"spec": a.spec.model_dump()}, fill)
            self._artifacts[name] = a.stage.load(self.cache.path(name, a.key), a.spec)
        return self._artifacts[name]

    def train(self, plan: Plan, m: ModelRef) -> None:
        if m.pretrained or self.cache.exists("train", m.train_key):
            return
        assert m.trainer is not None
        for req in m.requires.values():
            self.train(plan, req)
        corpus, tokenizer = self.corpus(plan, m.corpus), self.tokenizer(plan)
        artifacts = {name: self.artifact(plan, name) for name in m.artifacts}
        manifest = {
            "variant": m.variant.model_dump(),
            "config": m.config.model_dump() if m.config else None,
            "seed": m.seed,
            "corpus_key": plan.corpus_keys[m.corpus] if m.corpus else plan.corpus_key,
            "tokenizer_key": plan.tokenizer_key,
            "requires": {n: r.train_key for n, r in m.requires.items()},
        }
        partial = self.cache.partial("train", m.train_key)
        claim = self.cache.claim("train", m.train_key)  # one trainer per stage: its checkpoints are its own
        if claim is None:
            return
        self.log(f"[train] {m.label} ({m.variant.trainer})")
        # the cores free now: a busy machine must not oversubscribe; recorded because training numerics
        # depend on the thread count in their low bits
        manifest["threads"] = adapt_threads(self.threads_share)
        if step := _latest_step(partial):
            # its seconds are this attempt's only: estimates and the claims' stage hours must know
            manifest["resumed_from_step"] = step
        with claim, self.cache.build("train", m.train_key, manifest) as b:
            partial.mkdir(parents=True, exist_ok=True)
            ctx = TrainContext(
                variant=m.variant,
                config=m.config,
                seed=m.seed,
                corpus=corpus,
                tokenizer=tokenizer,
                out_dir=b.dir,
                checkpoint_dir=partial,
                progress=self.progress,
                inputs={n: self.cache.path("train", r.train_key) for n, r in m.requires.items()},
                log=self.log,
                artifacts=artifacts,
            )
            m.trainer.train(ctx)

    def model(self, m: ModelRef) -> PlanevalLM:
        if m.key not in self._models:
            self._models.clear()  # one model in memory at a time
            if m.pretrained:
                prefix, loaded = m.pretrained
                self._models[m.key] = LOADERS.get(prefix)().load(loaded)
            else:
                assert m.trainer is not None
                path = self.cache.path("train", m.train_key)
                self._models[m.key] = m.trainer.load_model(path, identity=m.key, config=m.config)
        return self._models[m.key]

    def summary_check(self, e: EvalRef) -> Callable[[Path], str | None]:
        """On reuse, the summary must be the task's aggregate of the stored per-sample table, so an
        edited ``metrics.json`` (even with a re-sealed manifest) can never become a leaderboard value."""

        def check(path: Path) -> str | None:
            stored = json.loads((path / "metrics.json").read_text())
            values = e.impl.aggregate(pd.read_parquet(path / "samples.parquet"), e.params)
            for m in stored:
                name, got = m["name"], values.get(m["name"])
                if got is None:
                    return f"metrics.json has {name!r}, which samples.parquet does not give"
                if not _same_value(m["value"], got):
                    return f"metrics.json says {name}={m['value']} but samples.parquet gives {got}"
            return None

        return check

    def evaluate(self, plan: Plan, e: EvalRef) -> None:
        check = self.summary_check(e)
        if self.cache.exists("eval", e.key, check=check):
            return
        corpus = self.corpus(plan, e.corpus)
        model = self.model(e.model)
        manifest = {
            "task": e.task.model_dump(),
            "params": e.params.model_dump(mode="json"),
            "model_key": e.model.key,
            "seed": e.model.seed,
        }
        claim = self.cache.claim("eval", e.key, check=check)  # None: another process built it meanwhile
        if claim is None:
            return
        self.log(f"[eval] {e.label}")
        manifest["threads"] = adapt_threads(self.threads_share)
        manifest["model"] = model.settings()  # the resolved window, dtype, device, batch size
        with claim, self.cache.build("eval", e.key, manifest) as b:
            work = b.dir / "work"
            work.mkdir()
            ctx = TaskContext(
                corpus=corpus,
                params=e.params,
                seed=e.model.seed,
                work_dir=work,
                progress=self.progress,
                artifacts={name: self.artifact(plan, name) for name in e.artifacts},
                model_key=e.model.key,
                cache=self.cache,
            )
            samples = e.impl.evaluate(model, ctx)
            metrics = summarize(e.impl, samples, e.params, e.model.seed, e.label)
            samples.to_parquet(b.dir / "samples.parquet", index=False)
            (b.dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
            if not any(work.iterdir()):
                work.rmdir()

    # -- the leaderboard --------------------------------------------------------------------------
    def _timings(self, plan: Plan, e: EvalRef) -> dict[str, float]:
        out = {}
        for stage, key in (
            ("corpus", plan.corpus_keys[e.corpus] if e.corpus else plan.corpus_key),
            ("tokenizer", plan.tokenizer_key),
            ("train", e.model.train_key),
            ("eval", e.key),
        ):
            if self.cache.exists(stage, key):
                built = self.cache.manifest(stage, key)
                out[f"{stage}_s"] = built.get("seconds", 0.0)
                if "threads" in built:  # intra-op threads the stage ran with (reproducibility)
                    out[f"{stage}_threads"] = built["threads"]
                if "resumed_from_step" in built:  # the seconds are the last attempt's, not the stage's
                    out[f"{stage}_resumed_from_step"] = built["resumed_from_step"]
        # the sizes the times scale by, for the estimates of --dry-run (harness.sizes)
        sizes = {"train_units": units(e.model.config, TRAIN_UNITS), "eval_units": units(e.params, EVAL_UNITS)}
        out.update({k: v for k, v in sizes.items() if v is not None})
        return out

    def trackers(self, plan: Plan) -> Trackers:
        """The experiment trackers this run logs to (none unless ``log_to`` names some)."""
        return Trackers(self.log_to, self.home, plan.suite.name)

    def record_training(self, store: Any, trackers: Trackers, plan: Plan, m: ModelRef, ran: bool) -> None:
        """A trained model's history and summary into the leaderboard (once per train key), and to the
        trackers when it trained in this run."""
        if m.pretrained or not self.cache.exists("train", m.train_key):
            return
        if not ran and store.has_training(m.train_key):
            return  # recorded when it trained (or by the run that first found it)
        folder = self.cache.path("train", m.train_key)
        summary_file = folder / "training.json"
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        history = read_history(folder)
        who = dict(suite=plan.suite.name, variant=m.variant.name, family=m.variant.family, seed=m.seed)
        store.record_training(m.train_key, summary=summary, history=history, **who)
        if ran and trackers:
            built = self.cache.manifest("train", m.train_key)
            provenance = {"git_commit": git_commit(), "threads": built.get("threads"),
                          "train_s": built.get("seconds")}  # fmt: skip
            config = m.config.model_dump(mode="json") if m.config else {}
            trackers.training(TrainingLog(**who, train_key=m.train_key, config=config, summary=summary,
                                          history=history, provenance=provenance))  # fmt: skip

    def record(self, store: Any, plan: Plan, e: EvalRef, error: str | None = None) -> tuple[RunRecord, list]:
        eval_dir = self.cache.path("eval", e.key)
        run = RunRecord(
            run_id=e.run_id,
            suite=plan.suite.name,
            variant=e.model.row_name,
            family=e.model.variant.family,
            task=e.task.label,
            task_name=e.task.name,
            seed=e.model.seed,
            config_hash=e.config_hash,
            model_key=e.model.key,
            eval_key=e.key,
            git_commit=git_commit(),
            package_versions=package_versions(),
            timings=self._timings(plan, e),
            params=e.params.model_dump(mode="json"),
            status="failed" if error else "ok",
            error=error,
            samples_path=None if error else str((eval_dir / "samples.parquet").resolve()),
            model_settings=None if error else self.cache.manifest("eval", e.key).get("model"),
            item_limit=e.limit,
        )
        metrics = (
            [] if error else [MetricRecord(**m) for m in json.loads((eval_dir / "metrics.json").read_text())]
        )
        # the per-sample table travels with the row: results are readable from the database alone
        samples = None if error else (eval_dir / "samples.parquet").read_bytes()
        store.record(run, metrics, samples)
        return run, metrics

    def run(self, plan: Plan) -> RunSummary:
        start = time.perf_counter()
        summary = RunSummary()
        check_writable(self.db_url)  # a read-only or unreachable --db fails now, not after training
        self.home.mkdir(parents=True, exist_ok=True)
        self.cache.clean_tmp()
        store = Store(self.db_url)
        trackers = self.trackers(plan)
        failed_models: dict[str, str] = {}
        for m in plan.models:
            try:
                was_cached = m.pretrained is not None or self.cache.exists("train", m.train_key)
                self.train(plan, m)
                (summary.cached if was_cached else summary.ran).append(f"train {m.label}")
            except PlanevalError:
                raise
            except Exception as exc:  # record the failure, keep going with the other variants
                failed_models[m.key] = f"training failed: {type(exc).__name__}: {exc}"
                self.log(f"[train] {m.label} FAILED\n{_failure_text(exc)}")
                summary.failed.append(f"train {m.label}")
            else:
                self.record_training(store, trackers, plan, m, ran=not was_cached)
        order = {m.key: i for i, m in enumerate(plan.models)}
        for e in sorted(plan.evals, key=lambda e: order[e.model.key]):  # each model loaded once
            error = failed_models.get(e.model.key)
            if error is None:
                try:
                    was_cached = self.cache.exists("eval", e.key, check=self.summary_check(e))
                    self.evaluate(plan, e)
                    (summary.cached if was_cached else summary.ran).append(f"eval {e.label}")
                except PlanevalError:
                    raise
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    self.log(f"[eval] {e.label} FAILED\n{_failure_text(exc)}")
                    summary.failed.append(f"eval {e.label}")
            if error is None and was_cached and store.has_run(e.run_id):
                continue  # a rebuilt stage is recorded again: its old row may come from a corrupt one
            run, metrics = self.record(store, plan, e, error)
            if trackers:
                trackers.eval(eval_log(run, metrics))
        trackers.close()
        self._models.clear()
        summary.seconds = time.perf_counter() - start
        return summary


def eval_log(run: RunRecord, metrics: list[MetricRecord]) -> EvalLog:
    """A recorded evaluation as the trackers receive it."""
    return EvalLog(
        suite=run.suite, variant=run.variant, family=run.family, seed=run.seed, task=run.task,
        task_name=run.task_name, run_id=run.run_id, eval_key=run.eval_key, model_key=run.model_key,
        params=run.params, status=run.status, error=run.error,
        metrics={m.name: m.value for m in metrics},
        intervals={m.name: (m.ci_low, m.ci_high) for m in metrics},
        provenance={"git_commit": run.git_commit, "timings": run.timings},
    )  # fmt: skip


def _same_value(stored: Any, got: Any) -> bool:
    """Equal up to float round-off, with NaN equal to NaN and None (a non-finite stored as null) to any
    non-finite value."""
    if stored is None or got is None:
        return (stored is None or not math.isfinite(float(stored))) and (
            got is None or not math.isfinite(float(got))
        )
    a, b = float(stored), float(got)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _failure_text(exc: BaseException) -> str:
    """A diverged model is a finding, not a bug: one line; anything else keeps its traceback."""
    if isinstance(exc, NonFiniteError):
        return f"  {exc}"
    return traceback.format_exc()


def _latest_step(checkpoint_dir: Path) -> int | None:
    if not checkpoint_dir.is_dir():
        return None
    ckpt = latest_checkpoint(checkpoint_dir, full=False, log=lambda s: None)
    digits = "".join(ch for ch in ckpt.name if ch.isdigit()) if ckpt else ""
    return int(digits) if digits else None
