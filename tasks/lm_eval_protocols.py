"""lm-eval's own GSM8K and MATH tasks as ``protocol:`` values of the ``gsm8k`` and ``math`` tasks.
Definitions: docs/tasks/math.md.

A protocol names a task YAML of the *installed* lm-eval (read at run time, so a new lm-eval version is
followed and its version is recorded with every score). ``run_protocol`` builds that task exactly as
lm-eval does — its YAML is ``include``d unchanged, only the dataset is replaced by planeval's items
(written to a temporary folder and read back by lm-eval's own dataset loader and ``process_docs``) —
and then runs lm-eval's evaluation loop: the task's requests (its prompt template, few-shot sampler and
seed, target and few-shot delimiters, ``until`` strings and generation settings, with ``gen_kwargs`` and
``num_fewshot`` applied as ``lm_eval.simple_evaluate`` applies them), the model's ``generate_until``
(``lm_eval_generate_until`` where the model has it: for ``HFCausalLM`` the same code as lm-eval's ``hf``
model, BOS handling included), the task's filters and ``process_results``. The scores are lm-eval's, per item.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from harness.errors import PlanevalError

#: planeval's own protocol (the default): its prompt, few-shot draw and generation settings
PLANEVAL = "planeval"
#: lm-eval's default ``fewshot_random_seed`` (``simple_evaluate``), used when ``fewshot_seed`` is unset
DEFAULT_FEWSHOT_SEED = 1234


@dataclass(frozen=True)
class Protocol:
    name: str
    family: str  # the planeval task it belongs to: gsm8k or math
    yaml: str  # the task YAML, relative to the installed lm_eval/tasks
    task: str  # the task name that YAML defines
    published_as: str  # what lm-eval's results call it (a task or the group of per-subject tasks)
    main_thread: bool = False  # its process_results uses SIGALRM time limits (main thread only)


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("lm-eval-gsm8k", "gsm8k", "gsm8k/gsm8k.yaml", "gsm8k", "gsm8k"),
        Protocol("lm-eval-gsm8k-cot", "gsm8k", "gsm8k/gsm8k-cot.yaml", "gsm8k_cot", "gsm8k_cot"),
        Protocol(
            "lm-eval-minerva-math",
            "math",
            "minerva_math/minerva_math_algebra.yaml",
            "minerva_math_algebra",
            "minerva_math",
            main_thread=True,
        ),
        Protocol(
            "lm-eval-hendrycks-math",
            "math",
            "hendrycks_math/hendrycks_math_algebra.yaml",
            "hendrycks_math_algebra",
            "hendrycks_math",
        ),
    )
}
#: GSM8K filters whose exact_match goes into the columns planeval's own protocol fills with its port
GSM8K_FILTERS = {"strict-match": "strict", "flexible-extract": "flexible"}


def protocol_names(family: str) -> list[str]:
    return [PLANEVAL, *(p.name for p in PROTOCOLS.values() if p.family == family)]


def lm_eval_version() -> str:
    return importlib.metadata.version("lm_eval")


def tasks_dir() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).resolve().parent / "tasks"


def _load_yaml(path: Path, resolve: bool) -> dict[str, Any]:
    """A task YAML with its ``include``s merged, through lm-eval's own loader (its location moved
    between lm-eval versions)."""
    try:
        from lm_eval.tasks._yaml_loader import load_yaml
    except ImportError:  # lm-eval < 0.4.10
        from lm_eval.utils import load_yaml_config

        return load_yaml_config(yaml_path=str(path), mode="full" if resolve else "simple")
    return load_yaml(path, resolve_func=resolve)


@cache
def task_config(name: str) -> dict[str, Any]:
    """The protocol's task config as the installed lm-eval defines it (``!function`` entries
    resolved, so a task whose utils cannot be imported fails here, with lm-eval's message)."""
    proto = PROTOCOLS[name]
    path = tasks_dir() / proto.yaml
    if not path.is_file():
        raise PlanevalError(
            f"protocol {name!r}: the installed lm-eval {lm_eval_version()} has no task file {proto.yaml}"
        )
    try:
        config = _load_yaml(path, resolve=True)
    except Exception as exc:  # an ImportError / AssertionError from the task's utils
        raise PlanevalError(
            f"protocol {name!r}: lm-eval {lm_eval_version()} cannot load {proto.yaml}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if config.get("task") != proto.task:
        raise PlanevalError(
            f"protocol {name!r}: {proto.yaml} defines task {config.get('task')!r}, not {proto.task!r}"
        )
    return config


def check_protocol(name: str, family: str) -> None:
    """A ``ValueError`` (for a params validator) unless ``name`` is a protocol of ``family`` that the
    installed lm-eval can run."""
    valid = protocol_names(family)
    if name not in valid:
        raise ValueError(f"unknown protocol {name!r} (valid: {', '.join(valid)})")
    if name != PLANEVAL:
        try:
            task_config(name)
        except PlanevalError as exc:
            raise ValueError(str(exc)) from None


def default_num_fewshot(name: str) -> int:
    return int(task_config(name).get("num_fewshot") or 0)


def effective_num_fewshot(name: str, num_fewshot: int | None) -> int:
    """The shots lm-eval uses: ``simple_evaluate``'s rule (a YAML that sets 0 keeps 0)."""
    default = task_config(name).get("num_fewshot")
    if num_fewshot is None or default == 0:
        return int(default or 0)
    return int(num_fewshot)


def needs_fewshot_pool(name: str, num_fewshot: int | None) -> bool:
    """Whether the task draws its shots from a dataset split (GSM8K's train split), not from a fixed
    list in its YAML (gsm8k-cot, minerva_math)."""
    if effective_num_fewshot(name, num_fewshot) == 0:
        return False
    config = task_config(name)
    samples = (config.get("fewshot_config") or {}).get("samples")
    return samples is None


def fingerprint(name: str) -> str:
    """lm-eval's version and a digest of the task's folder (YAMLs and utils): part of the evaluation key,
    so another lm-eval gives another result."""
    folder = (tasks_dir() / PROTOCOLS[name].yaml).parent
    h = hashlib.sha256()
    for path in sorted(folder.glob("*")):
        if path.is_file() and path.suffix in (".yaml", ".py"):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return f"lm_eval={lm_eval_version()}:{PROTOCOLS[name].yaml}:{h.hexdigest()[:16]}"


@dataclass
class LmEvalRun:
    """What lm-eval's loop produced, one entry per document (in the order given)."""

    prompts: list[str]
    outputs: list[str]  # the model's responses, as lm-eval's model interface returned them
    filtered: dict[str, list[Any]]  # filter name -> filtered response per document
    scores: dict[tuple[str, str], list[Any]]  # (metric, filter) -> process_results value per document
    info: dict[str, Any] = field(default_factory=dict)


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _local_task(name: str, folder: Path, docs: Sequence[dict], pool: Sequence[dict] | None) -> Any:
    """lm-eval's task for ``name``, its YAML included unchanged, reading ``docs`` (and ``pool`` for
    few-shot splits) from jsonl files in ``folder`` with lm-eval's dataset loader."""
    from lm_eval.tasks import TaskManager, get_task_dict

    proto = PROTOCOLS[name]
    config = task_config(name)
    test_split = config.get("test_split") or "test"
    files = {test_split: folder / "test.jsonl"}
    _write_jsonl(files[test_split], docs)
    override: dict[str, Any] = {
        "include": str(tasks_dir() / proto.yaml),
        "task": proto.task,
        "dataset_path": "json",
        "dataset_name": None,
        "validation_split": None,
    }
    if pool is not None:
        _write_jsonl(folder / "fewshot.jsonl", pool)
        for key in ("training_split", "fewshot_split"):
            if config.get(key) and config[key] != test_split:
                files[config[key]] = folder / "fewshot.jsonl"
    else:
        override["training_split"] = None  # nothing reads it: shots are fixed in the YAML, or none
    override["dataset_kwargs"] = {
        "data_files": {split: str(path) for split, path in files.items()},
        "cache_dir": str(folder / "hf-cache"),
    }
    (folder / "tasks").mkdir()
    (folder / "tasks" / f"{proto.task}.yaml").write_text(yaml.safe_dump(override, sort_keys=False))
    manager = TaskManager(include_path=str(folder / "tasks"), include_defaults=False)
    return get_task_dict([proto.task], manager)[proto.task]


def run_protocol(
    name: str,
    model: Any,
    docs: Sequence[dict[str, Any]],
    pool: Sequence[dict[str, Any]] | None = None,
    *,
    num_fewshot: int | None = None,
    gen_kwargs: dict[str, Any] | None = None,
    fewshot_seed: int | None = None,
    scratch: Path | None = None,
) -> LmEvalRun:
    """lm-eval's evaluation of ``docs`` (rows in the dataset's own format: GSM8K ``question``/``answer``,
    MATH ``problem``/``solution``) under protocol ``name`` with ``model`` (any ``lm_eval`` ``LM``)."""
    proto = PROTOCOLS[name]
    if proto.main_thread and threading.current_thread() is not threading.main_thread():
        raise PlanevalError(f"protocol {name!r}: lm-eval's scoring uses SIGALRM: run it on the main thread")
    if not docs:
        raise PlanevalError(f"protocol {name!r}: no items")
    if needs_fewshot_pool(name, num_fewshot) and not pool:
        raise PlanevalError(f"protocol {name!r} draws its shots from a train split: give fewshot_dataset")
    seed = DEFAULT_FEWSHOT_SEED if fewshot_seed is None else fewshot_seed
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="lm-eval-", dir=scratch) as tmp:
        task = _local_task(name, Path(tmp), docs, pool if needs_fewshot_pool(name, num_fewshot) else None)
        # what lm_eval.simple_evaluate does to a task before evaluating it
        if gen_kwargs:
            task.set_config(key="generation_kwargs", value=dict(gen_kwargs), update=True)
        task.set_config(key="num_fewshot", value=effective_num_fewshot(name, num_fewshot))
        task.set_fewshot_seed(seed=seed)
        task.build_all_requests(limit=None, rank=0, world_size=1)
        instances = sorted(task.instances, key=lambda inst: (inst.doc_id, inst.idx))
        eval_docs = list(task.eval_docs)
        if len(instances) != len(eval_docs) or len(eval_docs) != len(docs):
            raise PlanevalError(f"protocol {name!r}: expected one request per item, got {len(instances)}")
        # a model that can answer as lm-eval's own backend for it would (HFCausalLM: lm-eval's hf code)
        answer = getattr(model, "lm_eval_generate_until", None) or model.generate_until
        responses = answer(instances)
        for inst, resp in zip(instances, responses, strict=True):
            inst.resps.append(resp)
        task.apply_filters()
        filtered: dict[str, list[Any]] = {key: [] for key in instances[0].filtered_resps}
        scores: dict[tuple[str, str], list[Any]] = {}
        for key in filtered:
            for n, (doc, inst) in enumerate(zip(eval_docs, instances, strict=True)):
                filtered[key].append(inst.filtered_resps[key])
                for metric, value in task.process_results(doc, [inst.filtered_resps[key]]).items():
                    scores.setdefault((metric, key), [None] * len(eval_docs))[n] = value
        generation = dict(task.config.generation_kwargs or {})
        info = {
            "protocol": name,
            "lm_eval": lm_eval_version(),
            "task": proto.task,
            "published_as": proto.published_as,
            "task_version": (task.config.metadata or {}).get("version"),
            "num_fewshot": task.config.num_fewshot,
            "fewshot_seed": seed,
            "generation_kwargs": generation,
            "fingerprint": fingerprint(name),
        }
        return LmEvalRun(
            prompts=[inst.args[0] for inst in instances],
            outputs=list(responses),
            filtered=filtered,
            scores=scores,
            info=info,
        )


def reference_label(info: dict[str, Any]) -> str:
    """``lm-eval 0.4.13 gsm8k v3.0 (5-shot)``: what a score's reference is, for the per-sample table."""
    return (
        f"lm-eval {info['lm_eval']} {info['published_as']} v{info['task_version']} "
        f"({info['num_fewshot']}-shot, fewshot seed {info['fewshot_seed']})"
    )
