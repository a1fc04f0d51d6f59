"""``weights:``: one spelling for where a trainer starts (issue 15), parsed and digested in one place.

The two plan-level cases are the bugs the old spellings had: a planner on local ``hf:`` weights, and a
local ``hf:`` reward body, had no fingerprint, so their model keys did not follow the files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _models import micro_model
from pydantic import ValidationError

from harness.catalog import SUITES, include_dir, resolve_suite
from harness.runner import plan_suite
from trainers.base import Requirement
from trainers.lm import LMConfig
from trainers.planner.trainer import PlannerConfig, PlannerTrainer
from trainers.reward_weighted.config import RewardWeightedConfig
from trainers.weights import Weights

PLANNER_DATA = Path(__file__).parent / "data" / "planner"


def _save_model(folder: Path, seed: int) -> None:
    micro_model(400, n_positions=64, seed=seed).save_pretrained(folder, safe_serialization=True)


def test_parse_each_kind_and_serialise_back() -> None:
    assert Weights.parse("variant:tiny-lm") == Weights("variant", "tiny-lm")
    assert Weights.parse("hf:org/model:v2") == Weights("hf", "org/model:v2")  # only the first colon
    assert str(Weights.parse("preset:micro")) == "preset:micro"
    for bad, why in [
        ("tiny-lm", "is not variant:<name>"),
        ("base:tiny-lm", "is not variant:<name>"),
        ("hf:", "needs a name"),
        ("preset:huge", "unknown preset 'huge'"),
    ]:
        with pytest.raises(ValueError, match=why):
            Weights.parse(bad)


def test_a_config_dumps_the_string_and_reads_it_back() -> None:
    cfg = PlannerConfig(weights="hf:gpt2")
    dumped = cfg.model_dump(mode="json")
    assert dumped["weights"] == "hf:gpt2" and PlannerConfig.model_validate(dumped) == cfg
    assert PlannerConfig().weights == Weights("variant", "tiny-lm")  # the default is validated too
    assert LMConfig.model_json_schema()["properties"]["weights"]["type"] == "string"


def test_what_each_kind_offers(tmp_path: Path) -> None:
    variant, hub, preset = Weights("variant", "tiny-lm"), Weights("hf", "gpt2"), Weights("preset", "micro")
    assert variant.requirement() == Requirement(variant="tiny-lm")
    assert hub.requirement() is None and preset.requirement() is None
    assert (variant.pretrained(), hub.pretrained(), preset.pretrained()) == (None, "gpt2", None)
    assert variant.context_length(96) == 96 and preset.context_length(None) == 64
    assert Weights("preset", "gpt2").context_length(None) == 1024
    _save_model(tmp_path / "lm", seed=1)
    local = Weights("hf", str(tmp_path / "lm"))
    assert local.context_length(None) == 64 and local.source() == str((tmp_path / "lm").resolve())
    assert hub.source() == "gpt2" and hub.fingerprint() == "" and variant.fingerprint() == ""


def test_fingerprint_follows_the_local_files(tmp_path: Path) -> None:
    local = Weights("hf", str(tmp_path / "lm"))
    _save_model(tmp_path / "lm", seed=1)
    first = local.fingerprint()
    assert first and local.fingerprint() == first  # the same files, the same digest
    _save_model(tmp_path / "lm", seed=2)
    assert local.fingerprint() != first


def test_a_field_takes_only_its_kinds() -> None:
    with pytest.raises(ValidationError, match=r"hf:gpt2: this trainer takes variant:<name> \["):
        RewardWeightedConfig(weights="hf:gpt2")
    with pytest.raises(ValidationError, match="takes preset:<name> or hf:<Hub id or path>"):
        RewardWeightedConfig(reward_weights="variant:tiny-lm")
    with pytest.raises(ValidationError, match=r"`base: tiny-lm` is now `weights: variant:tiny-lm`"):
        PlannerConfig.model_validate({"base": "tiny-lm"})


def test_planner_on_local_hf_weights_keys_follow_the_files(tmp_path: Path) -> None:
    """The old ``base: hf:<path>`` had no fingerprint: retraining into the folder kept the model key."""
    include_dir(PLANNER_DATA)
    suite, source = resolve_suite("micro-planner")
    folder = tmp_path / "base"
    suite = suite.model_copy(update={"overrides": {"micro-oa": {"weights": f"hf:{folder}"}}})
    _save_model(folder, seed=1)
    trainer, cfg = PlannerTrainer(), PlannerConfig(weights=f"hf:{folder}")
    assert trainer.pretrained(cfg) == {"weights": str(folder)} and "weights" not in trainer.requires(cfg)
    first = {m.variant.name: m.key for m in plan_suite(suite, source).models}
    _save_model(folder, seed=2)
    second = {m.variant.name: m.key for m in plan_suite(suite, source).models}
    assert first["micro-oa"] != second["micro-oa"]
    assert first["micro-soft"] == second["micro-soft"]  # a variant on micro-base is untouched


def test_local_reward_body_keys_follow_the_files(tmp_path: Path) -> None:
    """The old ``reward_body: hf:<path>`` was not digested either."""
    folder = tmp_path / "body"
    suite = SUITES.get("reward")
    suite = suite.model_copy(update={"overrides": {"pg-avg": {"reward_weights": f"hf:{folder}"}}})
    _save_model(folder, seed=1)
    first = {m.variant.name: m.key for m in plan_suite(suite).models}
    _save_model(folder, seed=2)
    second = {m.variant.name: m.key for m in plan_suite(suite).models}
    assert first["pg-avg"] != second["pg-avg"] and first["pg-sum"] == second["pg-sum"]
