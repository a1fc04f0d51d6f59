"""The lm-eval protocols of ``gsm8k`` and ``math`` against lm-eval itself: a tiny GPT-2 built from config
(fixed seed, saved with its tokenizer), 20 GSM8K test items from ../shared/data, and
``lm_eval.simple_evaluate(model="hf", tasks=["gsm8k"])`` on the same items (the installed task YAML
included unchanged, only its dataset pointed at local files) give the same generations and the same
strict and flexible scores as planeval with ``protocol: lm-eval-gsm8k``; the same for lm-eval's
``hendrycks_math`` (the MATH task the installed lm-eval can run) on 20 MATH test items. Both sides get
``gen_kwargs={"max_gen_toks": 32}`` so the test stays short; every other setting is lm-eval's."""

from __future__ import annotations

import json
from pathlib import Path

import lm_eval
import pytest
from _math_fixtures import write_jsonl
from _models import micro_model, tiny_tokenizer
from conftest import shared_file
from lm_eval.tasks import TaskManager

from harness.errors import PlanevalError, SpecError
from harness.hf_adapter import HFCausalLM
from harness.specs import validate
from tasks.base import TASKS, TaskContext
from tasks.gsm8k import GSM8K
from tasks.lm_eval_protocols import PROTOCOLS, check_protocol, lm_eval_version, task_config
from tasks.math_common import MathTaskParams
from tasks.math_task import MathParams

GEN_KWARGS = {"max_gen_toks": 32}
N_GSM8K, N_MATH = 20, 20


def _rows(rel: str, n: int | None = None) -> list[dict]:
    lines = shared_file(rel).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return rows if n is None else rows[:n]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer GPT-2 with a 1024-token context: 5-shot GSM8K prompts (~2-3k tokens with this tokenizer)
    are left-truncated, as lm-eval does, so that path is compared too."""
    tok = tiny_tokenizer()
    path = tmp_path_factory.mktemp("lm_eval_protocols") / "gpt2"
    micro_model(len(tok), n_positions=1024, seed=5).save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


def _lm_eval(
    model_dir: Path, tmp: Path, yaml_rel: str, task: str, files: dict[str, Path], model_args: str = ""
) -> dict:
    """lm-eval's own run: a task YAML that includes the installed one and only swaps the dataset."""
    folder = tmp / "lm_eval_tasks"
    folder.mkdir()
    data_files = "\n".join(f"    {split}: {path}" for split, path in files.items())
    extra = "" if "train" in files else "training_split: null\n"
    (folder / f"{task}.yaml").write_text(
        f"include: {Path(lm_eval.__file__).parent / 'tasks' / yaml_rel}\ntask: {task}\n"
        f"dataset_path: json\ndataset_name: null\n{extra}dataset_kwargs:\n  data_files:\n{data_files}\n"
        f"  cache_dir: {tmp / 'hf-cache'}\n"
    )
    return lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model_dir}{model_args}",
        tasks=[task],
        task_manager=TaskManager(include_path=str(folder), include_defaults=False),
        gen_kwargs=dict(GEN_KWARGS),
        batch_size=4,
        device="cpu",
        bootstrap_iters=0,
        log_samples=True,
    )


def _ctx(cls: type, params: dict, tmp: Path) -> TaskContext:
    from harness.corpus import Corpus
    from harness.specs import CorpusSpec

    work = tmp / "work"
    work.mkdir(exist_ok=True)
    return TaskContext(
        corpus=Corpus(CorpusSpec(), [], [], []),
        params=validate(cls.Params, params, "test"),
        seed=0,
        work_dir=work,
        progress=False,
    )


def _by_filter(samples: list[dict], filter_name: str) -> list[dict]:
    return sorted((s for s in samples if s["filter"] == filter_name), key=lambda s: s["doc_id"])


def test_gsm8k_protocol_equals_lm_eval(model_dir: Path, tmp_path: Path) -> None:
    test = write_jsonl(tmp_path / "test.jsonl", _rows("gsm8k/test.jsonl", N_GSM8K))
    train = shared_file("gsm8k/train.jsonl")
    theirs = _lm_eval(model_dir, tmp_path, "gsm8k/gsm8k.yaml", "gsm8k", {"test": test, "train": train})
    strict = _by_filter(theirs["samples"]["gsm8k"], "strict-match")
    flexible = _by_filter(theirs["samples"]["gsm8k"], "flexible-extract")
    assert len(strict) == len(flexible) == N_GSM8K

    model = HFCausalLM.from_pretrained(str(model_dir), batch_size=4)
    task = TASKS.get("gsm8k")()
    params = {
        "protocol": "lm-eval-gsm8k",
        "dataset": str(test),
        "fewshot_dataset": str(train),
        "gen_kwargs": GEN_KWARGS,
    }
    ctx = _ctx(GSM8K, params, tmp_path)
    ours = task.evaluate(model, ctx)

    # the same prompts (lm-eval's 5 shots drawn with its seed), the same generations, all 20
    assert list(ours["prompt_hash"]) == [s["prompt_hash"] for s in strict]
    assert list(ours["output"]) == [s["resps"][0][0] for s in strict]
    assert ours["output"].str.len().gt(0).any()
    # the same filtered answers and the same per-item and aggregate strict / flexible scores
    assert list(ours["pred_strict"]) == [s["filtered_resps"][0] for s in strict]
    assert list(ours["pred_flexible"]) == [s["filtered_resps"][0] for s in flexible]
    assert list(ours["correct_strict"]) == [s["exact_match"] for s in strict]
    assert list(ours["correct_flexible"]) == [s["exact_match"] for s in flexible]
    metrics = task.aggregate(ours, ctx.params)
    results = theirs["results"]["gsm8k"]
    assert metrics["acc_strict"] == pytest.approx(results["exact_match,strict-match"], abs=1e-12)
    assert metrics["acc_flexible"] == pytest.approx(results["exact_match,flexible-extract"], abs=1e-12)
    assert {"acc", "acc_boxed"} <= set(metrics)  # ours, on the same outputs
    # the lm-eval version and settings are recorded with the score
    assert ours["reference"].iloc[0].startswith(f"lm-eval {lm_eval_version()} gsm8k v3.0 (5-shot")
    info = json.loads((ctx.work_dir / "lm_eval_protocol.json").read_text())
    assert info["lm_eval"] == lm_eval_version() and info["num_fewshot"] == 5 and info["fewshot_seed"] == 1234
    assert info["generation_kwargs"]["max_gen_toks"] == 32
    assert info["generation_kwargs"]["until"] == ["Question:", "</s>", "<|im_end|>"]
    assert f"lm_eval={lm_eval_version()}:gsm8k/gsm8k.yaml:" in task.fingerprint(ctx.params)  # in the key


def test_math_protocol_equals_lm_eval(model_dir: Path, tmp_path: Path) -> None:
    rows = _rows("math/math_test_full.jsonl")
    picked = [rows[i] for i in range(0, 5000, 5000 // N_MATH)][:N_MATH]  # every subject, every level
    test = write_jsonl(tmp_path / "math.jsonl", picked)
    yaml_rel = "hendrycks_math/hendrycks_math_algebra.yaml"
    theirs = _lm_eval(model_dir, tmp_path, yaml_rel, "hendrycks_math_algebra", {"test": test})
    samples = _by_filter(theirs["samples"]["hendrycks_math_algebra"], "none")
    assert len(samples) == N_MATH

    model = HFCausalLM.from_pretrained(str(model_dir), batch_size=4)
    task = TASKS.get("math")()
    params = {"protocol": "lm-eval-hendrycks-math", "dataset": str(test), "gen_kwargs": GEN_KWARGS}
    ctx = _ctx(type(task), params, tmp_path)
    ours = task.evaluate(model, ctx)
    assert list(ours["prompt_hash"]) == [s["prompt_hash"] for s in samples]
    assert list(ours["output"]) == [s["resps"][0][0] for s in samples]
    assert list(ours["correct_lm_eval"]) == [s["exact_match"] for s in samples]
    metrics = task.aggregate(ours, ctx.params)
    assert metrics["acc_lm_eval"] == pytest.approx(
        theirs["results"]["hendrycks_math_algebra"]["exact_match,none"], abs=1e-12
    )
    assert {"acc", "acc_hendrycks", "acc_boxed"} <= set(metrics)  # ours next to lm-eval's
    assert ours["reference"].iloc[0].startswith(f"lm-eval {lm_eval_version()} hendrycks_math v1.0 (0-shot")


class _AnswersLM(lm_eval.api.model.LM):
    """Answers lm-eval's GSM8K requests with canned text (the reference solution for even items, a wrong
    or unmarked answer for odd ones), so that the scores compared below are not all zero."""

    def __init__(self, rows: list[dict]):
        super().__init__()
        self.answers = {}
        for n, row in enumerate(rows):
            wrong = "The answer is 7.\n#### 7" if n % 4 == 1 else "so it costs $1,000 in all"
            self.answers[row["question"]] = row["answer"] if n % 2 == 0 else wrong

    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list[str]:
        out = []
        for req in requests:
            question = req.args[0].rsplit("Question: ", 1)[1].rsplit("\nAnswer:", 1)[0]
            out.append(" " + self.answers[question])
        return out

    def loglikelihood(self, requests: list) -> list:
        raise NotImplementedError

    def loglikelihood_rolling(self, requests: list) -> list:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:  # planeval's n_tokens column
        return list(text.encode())


def test_gsm8k_protocol_scores_equal_lm_eval_when_answers_are_right(tmp_path: Path) -> None:
    rows = _rows("gsm8k/test.jsonl", N_GSM8K)
    test = write_jsonl(tmp_path / "test.jsonl", rows)
    train = shared_file("gsm8k/train.jsonl")
    folder = tmp_path / "lm_eval_tasks"
    folder.mkdir()
    (folder / "gsm8k.yaml").write_text(
        f"include: {Path(lm_eval.__file__).parent / 'tasks' / 'gsm8k' / 'gsm8k.yaml'}\ntask: gsm8k\n"
        f"dataset_path: json\ndataset_name: null\ndataset_kwargs:\n  data_files:\n    test: {test}\n"
        f"    train: {train}\n  cache_dir: {tmp_path / 'hf-cache'}\n"
    )
    theirs = lm_eval.simple_evaluate(
        model=_AnswersLM(rows),
        tasks=["gsm8k"],
        task_manager=TaskManager(include_path=str(folder), include_defaults=False),
        bootstrap_iters=0,
        log_samples=True,
    )
    task = GSM8K()
    params = {"protocol": "lm-eval-gsm8k", "dataset": str(test), "fewshot_dataset": str(train)}
    ctx = _ctx(GSM8K, params, tmp_path)
    ours = task.evaluate(_AnswersLM(rows), ctx)
    metrics = task.aggregate(ours, ctx.params)
    results = theirs["results"]["gsm8k"]
    assert metrics["acc_strict"] == results["exact_match,strict-match"] == 0.5  # the 10 reference solutions
    assert metrics["acc_flexible"] == results["exact_match,flexible-extract"]
    strict = _by_filter(theirs["samples"]["gsm8k"], "strict-match")
    assert list(ours["correct_strict"]) == [s["exact_match"] for s in strict]
    assert metrics["acc"] == 0.5  # ours reads the same outputs: the reference solutions are right


def test_add_bos_token_is_handled_as_lm_eval_handles_it(model_dir: Path, tmp_path: Path) -> None:
    """The model arg ``add_bos_token=True`` (lm-eval's): a BOS before every prompt on both sides, and
    still the same generations; without it this tokenizer adds none, and the generations differ."""
    rows = _rows("math/math_test_full.jsonl")[:6]
    test = write_jsonl(tmp_path / "math.jsonl", rows)
    yaml_rel = "hendrycks_math/hendrycks_math_algebra.yaml"
    bos = ",add_bos_token=True"
    theirs = _lm_eval(model_dir, tmp_path, yaml_rel, "hendrycks_math_algebra", {"test": test}, bos)
    samples = _by_filter(theirs["samples"]["hendrycks_math_algebra"], "none")
    task = TASKS.get("math")()
    params = {"protocol": "lm-eval-hendrycks-math", "dataset": str(test), "gen_kwargs": GEN_KWARGS}
    with_bos = HFCausalLM.from_pretrained(str(model_dir), batch_size=4, add_bos_token=True)
    ours = task.evaluate(with_bos, _ctx(type(task), params, tmp_path))
    assert list(ours["output"]) == [s["resps"][0][0] for s in samples]
    plain_model = HFCausalLM.from_pretrained(str(model_dir), batch_size=4)
    plain = task.evaluate(plain_model, _ctx(type(task), params, tmp_path))
    assert list(plain["output"]) != list(ours["output"])


# -- params ------------------------------------------------------------------------------------------


def test_default_protocol_keeps_the_old_params_dump() -> None:
    """The evaluation key hashes the params dump: with the default protocol it has no new keys."""
    dump = MathTaskParams().model_dump(mode="json")
    assert "protocol" not in dump and not {"num_fewshot", "gen_kwargs", "fewshot_seed"} & set(dump)
    assert MathTaskParams(protocol="lm-eval-gsm8k").model_dump(mode="json")["protocol"] == "lm-eval-gsm8k"


def test_protocol_params_are_validated(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", [{"question": "q", "answer": "#### 1"}])
    bad = [
        ({"protocol": "lm-eval-nope"}, "unknown protocol"),
        ({"protocol": "lm-eval-hendrycks-math"}, "unknown protocol"),  # a MATH protocol for gsm8k
        ({"protocol": "lm-eval-gsm8k", "n_shots": 3}, "n_shots is planeval's protocol"),
        ({"protocol": "lm-eval-gsm8k", "max_new_tokens": 3}, "use num_fewshot and gen_kwargs"),
        ({"num_fewshot": 3}, "lm-eval protocols only"),
        ({"protocol": "lm-eval-gsm8k", "dataset": str(data)}, "needs fewshot_dataset"),
    ]
    for params, message in bad:
        with pytest.raises(SpecError, match=message):
            validate(MathTaskParams, params, "suite.yaml", prefix="tasks.0.params")
    # gsm8k-cot's shots are fixed in its YAML: no train file needed
    assert validate(MathTaskParams, {"protocol": "lm-eval-gsm8k-cot", "dataset": str(data)}, "s").protocol
    hendrycks = validate(MathParams, {"protocol": "lm-eval-hendrycks-math"}, "s")
    assert hendrycks.protocol == "lm-eval-hendrycks-math"


def test_a_protocol_the_installed_lm_eval_cannot_load_says_why() -> None:
    """minerva_math's utils refuse to import unless antlr4 4.11 is installed (math-verify needs 4.13):
    the protocol is refused at validation with lm-eval's own message, before any work."""
    try:
        task_config("lm-eval-minerva-math")
    except PlanevalError as exc:
        with pytest.raises(ValueError, match="cannot load minerva_math"):
            check_protocol("lm-eval-minerva-math", "math")
        assert "lm-eval" in str(exc)
    else:  # an environment where it loads: then it validates
        check_protocol("lm-eval-minerva-math", "math")
    assert set(PROTOCOLS) == {
        "lm-eval-gsm8k",
        "lm-eval-gsm8k-cot",
        "lm-eval-minerva-math",
        "lm-eval-hendrycks-math",
    }
