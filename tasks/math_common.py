"""What the math tasks (``gsm8k``, ``math``) share: the items, the prompts and the generation.

Items come from the ``dataset`` param:

* ``corpus`` — the ``split`` (default test) of the corpus the engine hands the task: the suite's main
  one, or the named one the task spec's ``corpus:`` selects (a math corpus inside a suite over text,
  e.g. ``smoke``'s ``corpora: {math: …}``, which a plan-tuning trainer's ``corpus: math`` trains on, so
  both see the same split); each document's ``meta`` holds ``question``, ``answer`` (the gold), optional
  ``solution``, ``plan``, ``level`` (the synthetic math generator);
* a row dataset (``harness.corpus.rows``: a local ``.jsonl`` file, or ``hf:<name>[:<config>]`` through
  ``datasets.load_dataset``) — GSM8K rows (``question``, ``answer`` ending in ``#### <gold>``) or MATH
  rows (``problem``, ``solution`` whose last ``\\boxed{}`` is the gold, or an explicit ``answer`` as in
  MATH-500; optional ``level``, ``type``/``subject``).

Prompts follow ``harness.text.math_prompts`` (shared with the trainers). Few-shot examples are drawn from
``fewshot_dataset`` (default: the corpus' train split, or the same ``hf:`` dataset's ``fewshot_split``)
with a generator seeded by (seed, sample id), so an item's shots do not depend on which other items
are evaluated. ``max_items`` evaluates a seeded subset.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from string import Formatter
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator

from harness.adapters import PlanevalLM, generation_needs
from harness.corpus import Corpus, Document
from harness.corpus.rows import check_row_source, is_local, load_rows, rows_fingerprint
from harness.errors import PlanevalError
from harness.generation import PromptedProtocol
from harness.sampling import Sampling
from harness.text.answers.math_answers import math_gold
from harness.text.answers.numbers import gsm8k_gold
from harness.text.math_prompts import FEWSHOT, PROMPT, format_prompt, solution_with_answer
from tasks.base import MetricInfo, MetricValues, Task, TaskContext, TaskParams
from tasks.generation import generations
from tasks.lm_eval_protocols import PLANEVAL, check_protocol, needs_fewshot_pool

CORPUS = "corpus"
_ID_KEYS = ("unique_id", "idx", "id")


@dataclass(frozen=True)
class MathItem:
    sample_id: str
    question: str
    gold: str  # the gold answer as written in the data (``"2,125"``, ``"\\frac{1}{2}"``)
    solution: str | None = None  # the reference solution, for few-shot examples
    level: str | None = None
    subject: str | None = None
    #: the data row as read (jsonl / hf), handed to lm-eval unchanged under an lm-eval protocol
    row: dict[str, Any] | None = field(default=None, compare=False, hash=False, repr=False)


def _level(value: Any) -> str | None:
    """``3``, ``"3"`` and ``"Level 3"`` (full MATH) all become ``"3"``."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    m = re.fullmatch(r"(?i)level\s*(\S+)", text)
    return m.group(1) if m else text or None


def item_from_row(row: dict[str, Any], sample_id: str, where: str) -> MathItem:
    """A GSM8K-format or MATH-format row as an item; ``where`` names the row in errors."""
    if "question" in row and "answer" in row:
        answer = str(row["answer"])
        return MathItem(
            sample_id,
            str(row["question"]),
            gsm8k_gold(answer),
            solution=answer,
            level=_level(row.get("level")),
            subject=row.get("type") or row.get("subject"),
            row=row,
        )
    if "problem" in row and ("solution" in row or "answer" in row):
        solution = row.get("solution")
        gold = row.get("answer")
        if gold is None:
            try:
                gold = math_gold(str(solution))
            except ValueError as exc:
                raise PlanevalError(f"{where}: field 'solution': {exc}") from None
        return MathItem(
            sample_id,
            str(row["problem"]),
            str(gold).strip(),
            solution=None if solution is None else str(solution),
            level=_level(row.get("level")),
            subject=row.get("type") or row.get("subject"),
            row=row,
        )
    raise PlanevalError(
        f"{where}: expected GSM8K fields 'question' + 'answer' or MATH fields 'problem' + 'solution', "
        f"got {sorted(row)}"
    )


def _sample_ids(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The rows' own ids (``unique_id``, ``idx``, ``id``) when unique, else their positions."""
    for key in _ID_KEYS:
        ids = [r.get(key) for r in rows]
        if all(i is not None for i in ids) and len(set(map(str, ids))) == len(ids):
            return [str(i) for i in ids]
    return [str(i) for i in range(len(rows))]


def items_from_rows(rows: Sequence[dict[str, Any]], where: str) -> list[MathItem]:
    ids = _sample_ids(rows)
    return [item_from_row(r, ids[n], f"{where} row {n + 1}") for n, r in enumerate(rows)]


def items_from_documents(docs: Iterable[Document], where: str) -> list[MathItem]:
    out = []
    for doc in docs:
        meta = doc.meta or {}
        missing = [k for k in ("question", "answer") if meta.get(k) in (None, "")]
        if missing:
            raise PlanevalError(
                f"{where}: document {doc.id!r} has no meta.{missing[0]} (the math tasks need a corpus "
                "whose documents carry question/answer metadata, e.g. source 'arithmetic')"
            )
        out.append(
            MathItem(
                doc.id,
                str(meta["question"]),
                str(meta["answer"]).strip(),
                solution=meta.get("solution"),
                level=_level(meta.get("level")),
                subject=meta.get("subject"),
            )
        )
    return out


def load_items(source: str, split: str, corpus: Corpus | None, where: str = "dataset") -> list[MathItem]:
    """The items of ``source``: ``corpus`` (the documents of the corpus the engine hands the task), or a
    row dataset (``harness.corpus.rows``); ``split`` applies to the corpus and to ``hf:`` datasets."""
    if source == CORPUS:
        if corpus is None:
            raise PlanevalError(f"{where}: 'corpus' needs the suite corpus")
        return items_from_documents(corpus.split(split), f"corpus {split} split")
    shown = source if is_local(source) else f"{source} ({split})"
    return items_from_rows(load_rows(source, split, where), shown)


def subsample(items: Sequence[MathItem], max_items: int | None, seed: int) -> list[MathItem]:
    """A seeded subset of ``max_items`` items, in their original order (all when ``None``)."""
    if max_items is None or max_items >= len(items):
        return list(items)
    keep = sorted(random.Random(seed).sample(range(len(items)), max_items))
    return [items[i] for i in keep]


def pick_shots(item: MathItem, pool: Sequence[MathItem], k: int, seed: int) -> list[tuple[str, str]]:
    """``k`` worked examples for ``item``: ``(question, solution ending in '#### gold')`` from ``pool``,
    never the item itself, drawn by a generator seeded with (seed, sample id)."""
    if k == 0:
        return []
    candidates = [p for p in pool if p.question != item.question]
    if len(candidates) < k:
        raise PlanevalError(f"few-shot: {k} shots asked but the pool has only {len(candidates)} items")
    rng = random.Random(f"{seed}:{item.sample_id}")
    picks = rng.sample(range(len(candidates)), k)
    return [
        (candidates[i].question, solution_with_answer(candidates[i].solution or "", candidates[i].gold))
        for i in picks
    ]


def _fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"not a str.format template: {exc}") from None


#: params that only planeval's own protocol reads, and those only lm-eval protocols read
PLANEVAL_ONLY = ("n_shots", "prompt_template", "fewshot_template", "max_new_tokens", "temperature", "stop")
LM_EVAL_ONLY = ("num_fewshot", "gen_kwargs", "fewshot_seed")


class MathTaskParams(TaskParams):
    #: the task whose protocols these params accept (``math`` overrides)
    family: ClassVar[str] = "gsm8k"

    protocol: str = Field(
        PLANEVAL,
        description="planeval (the default) or an lm-eval protocol reproducing the installed lm-eval's task",
    )
    num_fewshot: int | None = Field(None, ge=0, description="lm-eval protocols: lm-eval's --num_fewshot")
    gen_kwargs: dict[str, Any] | None = Field(None, description="lm-eval protocols: lm-eval's --gen_kwargs")
    fewshot_seed: int | None = Field(None, description="lm-eval protocols: lm-eval's fewshot seed (1234)")
    dataset: str = CORPUS
    split: str = "test"
    fewshot_dataset: str | None = None
    fewshot_split: str = "train"
    n_shots: int = Field(0, ge=0)
    prompt_template: str = PROMPT
    fewshot_template: str = FEWSHOT
    max_items: int | None = Field(None, ge=1)
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0, description="0 = greedy")
    stop: tuple[str, ...] = ("Problem:",)

    @field_validator("dataset", "fewshot_dataset")
    @classmethod
    def _source(cls, v: str | None) -> str | None:
        if v is None or v == CORPUS:
            return v
        try:
            return check_row_source(v)
        except ValueError as exc:
            raise ValueError(f"{exc}; or 'corpus', the suite's corpus") from None

    @field_validator("prompt_template")
    @classmethod
    def _prompt(cls, v: str) -> str:
        if _fields(v) != {"question"}:
            raise ValueError("must use exactly the field {question}")
        return v

    @field_validator("fewshot_template")
    @classmethod
    def _fewshot(cls, v: str) -> str:
        if _fields(v) != {"question", "solution"}:
            raise ValueError("must use exactly the fields {question} and {solution}")
        return v

    @model_validator(mode="after")
    def _shots_need_a_pool(self) -> MathTaskParams:
        check_protocol(self.protocol, self.family)
        local = self.dataset != CORPUS and is_local(self.dataset)
        if self.protocol == PLANEVAL:
            wrong = [k for k in LM_EVAL_ONLY if getattr(self, k) is not None]
            if wrong:
                raise ValueError(f"{wrong[0]} applies to lm-eval protocols only (protocol is {PLANEVAL!r})")
            if self.n_shots and self.fewshot_dataset is None and local:
                raise ValueError("n_shots > 0 with a local dataset file needs fewshot_dataset (a train file)")
            return self
        wrong = [k for k in PLANEVAL_ONLY if k in self.model_fields_set]
        if wrong:
            raise ValueError(
                f"{wrong[0]} is planeval's protocol; under {self.protocol!r} lm-eval's task sets it "
                "(use num_fewshot and gen_kwargs, as with lm-eval)"
            )
        if needs_fewshot_pool(self.protocol, self.num_fewshot) and self.fewshot_dataset is None and local:
            raise ValueError(f"protocol {self.protocol!r} needs fewshot_dataset (shots from a train split)")
        return self

    @model_serializer(mode="wrap")
    def _stable_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Params at their defaults that older planeval did not have are left out of the dump (the
        evaluation key hashes it), so results computed before ``protocol`` existed keep their keys."""
        data = handler(self)
        if self.protocol == PLANEVAL:
            data.pop("protocol", None)
        for key in LM_EVAL_ONLY:
            if getattr(self, key) is None:
                data.pop(key, None)
        return data


def _sample_row(item: MathItem, output: str, n_tokens: int) -> dict[str, Any]:
    """The per-sample columns every protocol writes before its scores."""
    return {
        "sample_id": item.sample_id,
        "level": item.level,
        "subject": item.subject,
        "question": item.question,
        "output": output,
        "gold": item.gold,
        "n_tokens": n_tokens,
    }


class MathGenerationTask(Task):
    """Generate an answer for each item and score it; subclasses implement ``score``."""

    Params = MathTaskParams
    limit_params = ("max_items",)

    def score(self, items: Sequence[MathItem], outputs: Sequence[str], params: Any) -> list[dict[str, Any]]:
        """Per-item scoring columns (extracted answers and 0/1 correctness per extractor)."""
        raise NotImplementedError

    def lm_eval_doc(self, item: MathItem) -> dict[str, Any]:
        """The item as a row of the dataset lm-eval's task reads (its own row when it has one)."""
        raise NotImplementedError

    def fingerprint(self, params: MathTaskParams) -> str:
        """Digests of local data files, so editing one re-runs the evaluation; under an lm-eval protocol
        also lm-eval's version and a digest of its task files."""
        parts = [
            digest
            for source in (params.dataset, params.fewshot_dataset)
            if source and source != CORPUS and (digest := rows_fingerprint(source))
        ]
        if params.protocol != PLANEVAL:
            from tasks.lm_eval_protocols import fingerprint

            parts.append(fingerprint(params.protocol))
        return ",".join(parts)

    def needs(self, params: MathTaskParams) -> frozenset[str]:
        """An lm-eval protocol asks the model's ``generate_until`` as lm-eval does; planeval's asks for
        greedy decoding or sampling as its temperature says."""
        if params.protocol != PLANEVAL:
            return frozenset({"greedy_generation"})
        return generation_needs(params.temperature)

    def items(self, ctx: TaskContext) -> list[MathItem]:
        p: MathTaskParams = ctx.params
        return subsample(load_items(p.dataset, p.split, ctx.corpus), p.max_items, ctx.seed)

    def fewshot_pool(self, ctx: TaskContext) -> list[MathItem]:
        p: MathTaskParams = ctx.params
        if p.protocol == PLANEVAL and p.n_shots == 0:
            return []
        source = p.fewshot_dataset or p.dataset  # the validator ensured a local file names its pool
        return load_items(source, p.fewshot_split, ctx.corpus, where="fewshot_dataset")

    def prompts(self, items: Sequence[MathItem], ctx: TaskContext) -> list[str]:
        p: MathTaskParams = ctx.params
        pool = self.fewshot_pool(ctx)
        return [
            format_prompt(
                item.question,
                pick_shots(item, pool, p.n_shots, ctx.seed),
                template=p.prompt_template,
                fewshot_template=p.fewshot_template,
            )
            for item in items
        ]

    def evaluate(self, model: PlanevalLM, ctx: TaskContext) -> pd.DataFrame:
        p: MathTaskParams = ctx.params
        items = self.items(ctx)
        if not items:
            raise PlanevalError(f"{p.dataset}: no items to evaluate in split {p.split!r}")
        if p.protocol != PLANEVAL:
            return self.evaluate_lm_eval(model, ctx, items)
        sampling = Sampling(
            max_new_tokens=p.max_new_tokens, temperature=p.temperature, seed=ctx.seed, stop=p.stop
        )
        gens = generations(model, ctx).prompted(
            PromptedProtocol(sampling=sampling), [i.sample_id for i in items], self.prompts(items, ctx)
        )
        outputs = [cut_at_stop(text, p.stop) for text in gens["text"]]
        rows = [
            _sample_row(item, out, int(n))
            for item, out, n in zip(items, outputs, gens["n_tokens"], strict=True)
        ]
        return self.score_samples(pd.DataFrame(rows), p)

    def score_samples(self, samples: pd.DataFrame, params: Any) -> pd.DataFrame:
        """Our extractors' answers and verdicts for each row's ``output`` against its ``gold`` (the
        problem text in ``question`` tells the judge whether a list is asked); lm-eval's own score
        columns, computed by lm-eval's filters on the same outputs, are kept as they are."""
        items = [
            MathItem(str(sid), str(q), str(g))
            for sid, q, g in zip(samples["sample_id"], samples["question"], samples["gold"], strict=True)
        ]
        scored = pd.DataFrame(self.score(items, list(samples["output"]), params), index=samples.index)
        scored = scored.drop(columns=self.lm_eval_columns(samples.columns, params), errors="ignore")
        return pd.concat([samples.drop(columns=list(scored.columns), errors="ignore"), scored], axis=1)

    def lm_eval_columns(self, columns: Iterable[str], params: Any) -> list[str]:
        """The columns lm-eval's own filters and metrics wrote under an lm-eval protocol: ours never
        overwrite them."""
        if params.protocol == PLANEVAL:
            return []
        return [c for c in columns if c.startswith(("correct_lm_eval", "pred_lm_eval"))]

    def evaluate_lm_eval(self, model: PlanevalLM, ctx: TaskContext, items: list[MathItem]) -> pd.DataFrame:
        """lm-eval's task on these items (``tasks.lm_eval_protocols``): its prompts, generation settings,
        filters and scores, and ours on the same outputs. The lm-eval version and settings go into
        ``work/lm_eval_protocol.json`` and a ``reference`` column."""
        import hashlib

        from tasks.lm_eval_protocols import needs_fewshot_pool, reference_label, run_protocol

        p: MathTaskParams = ctx.params
        pool = None
        if needs_fewshot_pool(p.protocol, p.num_fewshot):
            pool = [self.lm_eval_doc(i) for i in self.fewshot_pool(ctx)]
        run = run_protocol(
            p.protocol,
            model,
            [self.lm_eval_doc(i) for i in items],
            pool,
            num_fewshot=p.num_fewshot,
            gen_kwargs=p.gen_kwargs,
            fewshot_seed=p.fewshot_seed,
            scratch=ctx.work_dir,
        )
        (ctx.work_dir / "lm_eval_protocol.json").write_text(json.dumps(run.info, indent=2, default=str))
        label = reference_label(run.info)
        rows = [
            {
                **_sample_row(item, out, len(model.encode(out))),
                "prompt_hash": hashlib.sha256(prompt.encode("utf-8")).hexdigest(),  # = lm-eval's
                "reference": label,
            }
            for item, out, prompt in zip(items, run.outputs, run.prompts, strict=True)
        ]
        for (metric, filter_name), values in run.scores.items():
            key = self.lm_eval_key(metric, filter_name)
            for n, row in enumerate(rows):
                value = values[n]
                row[f"correct_{key}"] = float(value) if isinstance(value, (bool, int, float)) else value
                if filter_name != "none":
                    row[f"pred_{key}"] = str(run.filtered[filter_name][n])
        return self.score_samples(pd.DataFrame(rows), p)

    def lm_eval_key(self, metric: str, filter_name: str) -> str:
        """The column/metric suffix of lm-eval's ``<metric>,<filter>`` score: ``lm_eval``,
        ``lm_eval_math_verify``, ``lm_eval_<filter>``, ... (``gsm8k`` maps its two filters to
        ``strict``/``flexible``)."""
        parts = ["lm_eval"] + ([] if metric == "exact_match" else [metric])
        parts += [] if filter_name == "none" else [filter_name]
        return "_".join(re.sub(r"\W+", "_", part).strip("_") for part in parts)


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text up to the first stop string (adapters trim already; this makes it a task guarantee)."""
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return text[:cut] if cut >= 0 else text


def accuracies(
    samples: pd.DataFrame, columns: dict[str, str], declared: dict[str, MetricInfo]
) -> MetricValues:
    """``{metric: mean of its 0/1 column}`` in one numpy pass: ``aggregate`` runs once per bootstrap
    resample (1000 times), so pandas' per-call overhead would dominate. Columns ``correct_lm_eval*``
    (lm-eval's own scores under an lm-eval protocol) become metrics ``acc_lm_eval*``; those the task
    does not declare (named after an lm-eval filter) are base values over all samples."""
    columns = dict(columns)
    for col in samples.columns:
        if col.startswith("correct_lm_eval"):
            columns.setdefault("acc" + col[len("correct") :], col)
    out = MetricValues(declared)
    for name, col in columns.items():
        value = float(samples[col].to_numpy(dtype=float).mean()) if len(samples) else float("nan")
        if name in declared:
            out.put(name, value)
        else:
            out[name] = value
    return out


def by_level(out: MetricValues, samples: pd.DataFrame, column: str, metric: str) -> None:
    """``metric`` at each level present (stored as ``{metric}@level<k>``), into ``out``."""
    if "level" not in samples.columns or not len(samples):
        return
    codes, names = pd.factorize(samples["level"])  # -1 where the level is unknown
    known = codes >= 0
    if not known.any():
        return
    values = samples[column].to_numpy(dtype=float)[known]
    means = np.bincount(codes[known], weights=values) / np.bincount(codes[known])
    for name, m in sorted(zip(names, means, strict=True)):
        out.put(metric, float(m), level=name)
