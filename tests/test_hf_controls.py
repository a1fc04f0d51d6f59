"""``hf:<path>,dtype=…,device=…,batch_size=…,max_length=…,name=…``: what changes numbers (dtype,
max_length) is in the model key, the batch size, device and label are not; the resolved values are
recorded with the result and shown by ``planeval show --json``; the label is the row in tables; a bad
option is one line naming the suite file and its variants field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _models import micro_model, tiny_tokenizer

from harness.cli import main
from harness.errors import SpecError
from harness.runner import plan_suite
from harness.specs import SuiteSpec, TaskSpec
from leaderboard.store import Store

PPL = TaskSpec(name="perplexity", params={"mode": "rolling", "max_docs": 3})


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tok = tiny_tokenizer()
    path = tmp_path_factory.mktemp("hf_controls") / "gpt2"
    micro_model(len(tok), n_positions=64, seed=6).save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


def _suite(variants: list[str]) -> SuiteSpec:
    return SuiteSpec(
        name="hf-controls",
        corpus={"source": "synthetic", "params": {"n_articles": 60}},
        variants=variants,
        tasks=[PPL],
    )


def _key(variant: str) -> str:
    return plan_suite(_suite([variant])).models[0].key


def test_numeric_options_are_in_the_key_runtime_ones_are_not(model_dir: Path) -> None:
    plain = _key(f"hf:{model_dir}")
    assert _key(f"hf:{model_dir},batch_size=4,device=cpu,name=x") == plain
    assert _key(f"hf:{model_dir},batch_size=auto,device=auto,dtype=fp32") == plain
    assert len({plain, _key(f"hf:{model_dir},dtype=bf16"), _key(f"hf:{model_dir},max_length=32")}) == 3
    assert _key(f"hf:{model_dir},dtype=bf16") == _key(f"hf:{model_dir},dtype=bfloat16")
    # dtype=auto is what the checkpoint states (float32 here): the plain key
    assert _key(f"hf:{model_dir},dtype=auto") == plain
    assert plan_suite(_suite([f"hf:{model_dir},max_length=32"])).models[0].context == 32


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ("dtype=fp8", "dtype='fp8' (valid: auto, bf16, fp16, fp32)"),
        ("device=tpu", "device='tpu' (valid: auto, cpu, cuda, mps, cuda:N)"),
        ("batch_size=0", "batch_size='0': give a positive whole number"),
        ("max_length=999", "max_length=999 exceeds the model's context of 64"),
        ("colour=red", "unknown hf: option 'colour' (valid: dtype, device, batch_size, max_length, name)"),
        ("name=", "name=: give a label"),
        ("dtype", "option 'dtype' is not key=value"),
    ],
)
def test_bad_options_are_one_line_at_the_variants_field(model_dir: Path, options: str, problem: str) -> None:
    with pytest.raises(SpecError) as err:
        plan_suite(_suite([f"hf:{model_dir}", f"hf:{model_dir},{options}"]), "suite.yaml")
    line = str(err.value)
    assert "\n" not in line and line.startswith("suite.yaml: variants.1") and problem in line, line


def test_two_variants_with_one_label_are_refused(model_dir: Path) -> None:
    with pytest.raises(SpecError, match="two variants are labelled 'tiny'"):
        plan_suite(_suite([f"hf:{model_dir},name=tiny", f"hf:{model_dir},dtype=bf16,name=tiny"]))


def test_bf16_on_cpu_runs_records_its_settings_and_shows_its_label(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: hf-controls\ncorpus: {source: synthetic, params: {n_articles: 60}}\nvariants:\n"
        f"  - {json.dumps(f'hf:{model_dir},dtype=bf16,device=auto,batch_size=auto,name=tiny-bf16')}\n"
        f"  - {json.dumps(f'hf:{model_dir},max_length=32')}\n"
        "tasks:\n  - {name: perplexity, params: {mode: rolling, max_docs: 3}}\n"
    )
    db = f"sqlite:///{tmp_path / 'board.db'}"
    argv = ["run", str(suite), "--home", str(tmp_path / "home"), "--db", db, "--no-progress"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| tiny-bf16 |" in table  # the label is the row, not the path

    store = Store(db)
    runs = store.runs().set_index("variant")
    assert set(runs.index) == {"tiny-bf16", f"hf:{model_dir},max_length=32"}
    settings = runs.loc["tiny-bf16", "model_settings"]
    # device auto on a CPU-only machine is the CPU; batch_size auto there is the documented default 16
    assert settings == {"dtype": "bfloat16", "device": "cpu", "batch_size": 16, "max_length": 64}
    assert runs.loc[f"hf:{model_dir},max_length=32", "model_settings"]["max_length"] == 32
    values = store.results().set_index(["variant", "metric"])["value"]
    assert values["tiny-bf16", "perplexity"] > 1

    capsys.readouterr()
    assert main(["show", runs.loc["tiny-bf16", "run_id"], "--json", "--db", db]) == 0
    doc = json.loads(capsys.readouterr().out)  # only JSON on stdout
    assert doc["run"]["model_settings"]["dtype"] == "bfloat16" and doc["run"]["item_limit"] is None


def test_auto_batch_size_is_the_largest_that_fits(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The search accelerate's ``find_executable_batch_size`` runs (shrinking on out-of-memory), on a
    simulated accelerator memory that holds 48 full-context requests; on the CPU nothing is searched."""
    import torch

    from harness import hf_adapter
    from harness.hf_adapter import CPU_BATCH_SIZE, HFCausalLM, auto_batch_size

    lm = HFCausalLM.from_pretrained(str(model_dir), batch_size="auto")
    assert lm.batch_size == CPU_BATCH_SIZE
    tried: list[int] = []
    real = HFCausalLM.score_spans

    def score_spans(self, requests, **kwargs):
        tried.append(len(requests))
        if len(requests) > 48:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB")
        return real(self, requests[:1], **kwargs) * len(requests)

    monkeypatch.setattr(HFCausalLM, "score_spans", score_spans)
    monkeypatch.setattr(hf_adapter, "AUTO_BATCH_START", 256)
    found = auto_batch_size(lm)
    assert 48 * 0.9 < found <= 48 and tried[0] == 256 and tried[-1] == found
    assert tried == sorted(tried, reverse=True) and lm.batch_size == found
