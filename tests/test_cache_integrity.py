"""Cache integrity: every kind of cached file tampered with is detected on reuse, moved aside with one
line naming the stage and file, and rebuilt, so the leaderboard keeps the right numbers; checkpoints
fall back to the newest that verifies; leases and temporary folders of live owners are left alone."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _models import sample_texts, tiny_tokenizer
from safetensors.torch import load_file

from harness.cache import Cache, seal, verify_tree
from harness.catalog import SUITES, include_dir
from harness.corpus import Corpus, Document
from harness.lease import Lease, break_stale, hostname, lease_live, owner_tag, read_lease
from harness.runner import Runner, plan_suite
from harness.specs import CorpusSpec, VariantSpec
from leaderboard.store import Store
from trainers.base import TrainContext
from trainers.checkpointing import TrainingInterrupted, latest_checkpoint, list_checkpoints, save_checkpoint
from trainers.lm import LMConfig, PlainLMTrainer

INCLUDE = Path(__file__).parent / "data" / "include"
DEAD_PID = 99_999_999  # beyond Linux's pid_max: never a live process


def small_suite():
    """The micro suite with a shorter LM and one task of each kind of eval stage it has."""
    include_dir(INCLUDE)
    suite = SUITES.get("micro")
    tasks = [t for t in suite.tasks if t.label in ("ppl-paper", "rouge")]
    return suite.model_copy(update={"tasks": tasks, "overrides": {"micro-lm": {"max_steps": 20}}})


def leaderboard(home: Path) -> pd.DataFrame:
    res = Store(f"sqlite:///{home / 'leaderboard.db'}").results()
    cols = ["variant", "task", "seed", "metric", "value", "ci_low", "ci_high", "n"]
    return res[cols].sort_values(cols[:4]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("ref")
    summary = Runner(home, progress=False, log=lambda s: None).run(plan_suite(small_suite()))
    assert not summary.failed
    return home


def rerun(home: Path) -> tuple[list[str], list[str]]:
    """Run the suite again into a fresh leaderboard (so it is written from the cache): (ran, cache lines)."""
    (home / "leaderboard.db").unlink()
    lines: list[str] = []
    summary = Runner(home, progress=False, log=lines.append).run(plan_suite(small_suite()))
    assert not summary.failed
    return summary.ran, [line for line in lines if line.startswith("[cache]")]


def copy_of(reference_home: Path, tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    shutil.copytree(reference_home, home)
    return home, home / "cache"


def eval_dir(cache: Path, task: str, variant: str = "micro-lm") -> Path:
    plan = plan_suite(small_suite())
    (e,) = [e for e in plan.evals if e.task.label == task and e.model.variant.name == variant]
    return cache / "eval" / e.key


def train_dir(cache: Path, variant: str) -> Path:
    (m,) = [m for m in plan_suite(small_suite()).models if m.variant.name == variant]
    return cache / "train" / m.key


def only_stage(cache: Path, stage: str) -> Path:
    (d,) = [d for d in (cache / stage).iterdir() if not d.name.startswith(".")]
    return d


def test_every_stage_manifest_lists_sizes_and_digests(reference_home):
    cache = Cache(reference_home / "cache")
    stages = list(cache.stages())
    assert {s for s, _ in stages} >= {"corpus", "tokenizer", "train", "eval", "generations"}
    for stage, key in stages:
        manifest = cache.manifest(stage, key)
        assert manifest["files"] and all(len(f["sha256"]) == 64 for f in manifest["files"].values())
        assert verify_tree(cache.path(stage, key), full=True) is None
        for rel, entry in manifest["files"].items():
            assert (cache.path(stage, key) / rel).stat().st_size == entry["size"]


def test_edited_metrics_json_is_rebuilt_and_never_recorded(reference_home, tmp_path):
    home, cache = copy_of(reference_home, tmp_path)
    ev = eval_dir(cache, "ppl-paper")
    metrics = json.loads((ev / "metrics.json").read_text())
    metrics[0]["value"] = 1.0  # a "perfect" perplexity
    (ev / "metrics.json").write_text(json.dumps(metrics, indent=2))
    ran, lines = rerun(home)
    assert len(lines) == 1 and f"eval/{ev.name}" in lines[0] and "metrics.json" in lines[0], lines
    assert ran == ["eval ppl-paper × micro-lm seed=0"]
    assert list((cache / "eval").glob(f".corrupt-{ev.name}-*"))
    pd.testing.assert_frame_equal(leaderboard(home), leaderboard(reference_home))


def test_edited_metrics_json_with_a_resealed_manifest_is_caught_by_the_samples(reference_home, tmp_path):
    """Whoever re-seals the manifest after editing the summary still cannot make it a result: the
    summary must be the task's aggregate of the per-sample table."""
    home, cache = copy_of(reference_home, tmp_path)
    ev = eval_dir(cache, "ppl-paper")
    metrics = json.loads((ev / "metrics.json").read_text())
    metrics[0]["value"] = 1.0
    (ev / "metrics.json").write_text(json.dumps(metrics, indent=2))
    manifest = {k: v for k, v in json.loads((ev / "manifest.json").read_text()).items()
                if k not in ("files", "manifest_sha256")}  # fmt: skip
    (ev / "manifest.json").write_text(json.dumps(seal(manifest, ev)))
    assert verify_tree(ev, full=True) is None  # the digests alone now pass
    ran, lines = rerun(home)
    assert ran == ["eval ppl-paper × micro-lm seed=0"]
    assert len(lines) == 1 and "samples.parquet gives" in lines[0] and f"eval/{ev.name}" in lines[0]
    pd.testing.assert_frame_equal(leaderboard(home), leaderboard(reference_home))


def test_tampered_samples_parquet_is_rebuilt(reference_home, tmp_path):
    home, cache = copy_of(reference_home, tmp_path)
    ev = eval_dir(cache, "rouge")
    samples = pd.read_parquet(ev / "samples.parquet")
    numeric = samples.select_dtypes("number").columns
    samples[numeric[-1]] = samples[numeric[-1]] * 0 + 1
    samples.to_parquet(ev / "samples.parquet", index=False)
    ran, lines = rerun(home)
    assert ran == ["eval rouge × micro-lm seed=0"]
    assert len(lines) == 1 and f"eval/{ev.name}" in lines[0] and "samples.parquet" in lines[0], lines
    pd.testing.assert_frame_equal(leaderboard(home), leaderboard(reference_home))


@pytest.mark.parametrize("delete_manifest", [False, True])
def test_truncated_weights_retrain(reference_home, tmp_path, delete_manifest):
    """A truncated model.safetensors — with or without its manifest — is moved aside and retrained
    (before, without a manifest every rerun retrained and then failed to publish)."""
    home, cache = copy_of(reference_home, tmp_path)
    tr = train_dir(cache, "micro-lm")
    weights = next(tr.rglob("model.safetensors"))
    with open(weights, "r+b") as f:
        f.truncate(weights.stat().st_size // 2)
    if delete_manifest:
        (tr / "manifest.json").unlink()
    ran, lines = rerun(home)
    assert len(lines) == 1 and f"train/{tr.name}" in lines[0], lines
    assert ("no manifest.json" if delete_manifest else "model.safetensors") in lines[0]
    assert "train micro-lm seed=0" in ran
    assert verify_tree(tr, full=True) is None
    pd.testing.assert_frame_equal(leaderboard(home), leaderboard(reference_home))
    # and a second rerun reuses it: the rebuilt stage is whole
    ran, lines = rerun(home)
    assert ran == [] and lines == []


@pytest.mark.parametrize("how", ["edited", "old-format"])
def test_tampered_or_old_manifest_is_rebuilt(reference_home, tmp_path, how):
    """An edited manifest fails its self-digest; one without file digests (written by the previous
    planeval) is treated as unverified and rebuilt, the safe choice."""
    home, cache = copy_of(reference_home, tmp_path)
    ev = eval_dir(cache, "rouge", "unigram")
    manifest = json.loads((ev / "manifest.json").read_text())
    if how == "edited":
        manifest["seed"] = 1
    else:
        manifest = {k: v for k, v in manifest.items() if k not in ("files", "manifest_sha256")}
    (ev / "manifest.json").write_text(json.dumps(manifest))
    ran, lines = rerun(home)
    assert ran == ["eval rouge × unigram seed=0"]
    assert len(lines) == 1 and f"eval/{ev.name}" in lines[0], lines
    assert ("own digest" if how == "edited" else "older planeval") in lines[0]
    assert verify_tree(ev, full=True) is None
    pd.testing.assert_frame_equal(leaderboard(home), leaderboard(reference_home))


def test_tampered_derived_artifact_is_rebuilt_for_every_cache_user(tmp_path):
    """Tasks' own stages (generations, features, critics) use the same Cache: reuse verifies them too."""
    lines: list[str] = []
    cache = Cache(tmp_path, log=lines.append)
    with cache.build("features", "k1", {"n": 3}) as b:
        np.save(b.dir / "features.npy", np.arange(6.0).reshape(3, 2))
    assert cache.exists("features", "k1")
    path = cache.path("features", "k1") / "features.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    fresh = Cache(tmp_path, log=lines.append)  # a later process
    assert not fresh.exists("features", "k1")
    assert len(lines) == 1 and "features/k1" in lines[0] and "features.npy" in lines[0]
    built: list[int] = []
    for _ in range(2):
        fresh.ensure("features", "k1", {"n": 3}, lambda b: (built.append(1), np.save(b.dir / "f.npy", [1])))
    assert built == [1] and verify_tree(fresh.path("features", "k1"), full=True) is None


def test_cache_verify_and_gc_commands(reference_home, tmp_path):
    """``cache verify`` digests every file (a same-size flip in any file fails), moves nothing unless
    ``--repair``; ``gc`` frees the quarantined copy, dead owners' folders and finished checkpoints."""
    home, cache = copy_of(reference_home, tmp_path)
    corpus = only_stage(cache, "corpus")
    parquet = corpus / "corpus.parquet"
    data = bytearray(parquet.read_bytes())
    data[len(data) // 2] ^= 0x01
    parquet.write_bytes(bytes(data))
    dead_tmp = cache / "eval" / f".tmp-deadbeef-{hostname()}-{DEAD_PID}-abcdef"
    dead_tmp.mkdir()
    (dead_tmp / "half.bin").write_bytes(b"x" * 1000)
    live_tmp = cache / "eval" / f".tmp-cafe-{owner_tag()}"  # this (live) process's
    live_tmp.mkdir()
    finished_partial = cache / "train" / f"{train_dir(cache, 'unigram').name}.partial"
    finished_partial.mkdir()
    unfinished = cache / "train" / "0123456789abcdef.partial"  # a killed training: resumable, kept
    (unfinished / "step-00000005").mkdir(parents=True)
    half_checkpoint = unfinished / f".tmp-step-00000010-{hostname()}-{DEAD_PID}-abcdef"
    half_checkpoint.mkdir()

    def cli(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "harness.cli", "cache", *args, "--home", str(home)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    out = cli("verify")
    assert out.returncode == 1, out.stdout + out.stderr
    bad = [line for line in out.stdout.splitlines() if line.startswith("corpus/")]
    assert bad == [f"corpus/{corpus.name}: corpus.parquet does not match its sha256 (content changed)"]
    assert corpus.is_dir()  # nothing moved
    out = cli("verify", "--repair")
    assert out.returncode == 1 and not corpus.exists() and list((cache / "corpus").glob(".corrupt-*"))
    assert cli("verify").returncode == 0
    out = cli("gc")
    assert out.returncode == 0, out.stderr
    assert not list((cache / "corpus").glob(".corrupt-*")) and not dead_tmp.exists()
    assert not finished_partial.exists() and live_tmp.exists()
    assert (unfinished / "step-00000005").is_dir() and not half_checkpoint.exists()
    assert "freed" in out.stdout.splitlines()[-1]


# -- checkpoints -----------------------------------------------------------------------------------


def _train_ctx(tmp_path: Path, name: str, cfg: LMConfig, log) -> TrainContext:
    docs = [Document(id=f"d{i}", text=t) for i, t in enumerate(sample_texts(60, seed=1))]
    corpus = Corpus(spec=CorpusSpec(), train=docs, val=docs[:8], test=docs[8:16])
    out = tmp_path / name / "out"
    out.mkdir(parents=True)
    return TrainContext(
        variant=VariantSpec(name=name, family="test", trainer="lm"), config=cfg, seed=3, corpus=corpus,
        tokenizer=tiny_tokenizer(), out_dir=out, checkpoint_dir=tmp_path / name / "ckpt", progress=False,
        log=log,
    )  # fmt: skip


def test_corrupted_newest_checkpoint_falls_back_to_the_older_intact_one(tmp_path):
    cfg = LMConfig(weights="preset:micro", batch_size=4, seq_len=32, lr=3e-3, warmup_steps=2, dropout=0.1,
                   max_steps=12, checkpoint_every=4)  # fmt: skip
    whole = _train_ctx(tmp_path, "whole", cfg, lambda s: None)
    PlainLMTrainer().train(whole)

    logs: list[str] = []
    killed = _train_ctx(tmp_path, "killed", cfg, logs.append)
    with pytest.raises(TrainingInterrupted):
        PlainLMTrainer(stop_after=9).train(killed)
    assert [p.name for p in list_checkpoints(killed.checkpoint_dir)] == ["step-00000004", "step-00000008"]
    weights = killed.checkpoint_dir / "step-00000008" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x10  # a flipped bit, same size: only the digest sees it
    weights.write_bytes(bytes(data))
    skipped: list[str] = []
    assert latest_checkpoint(killed.checkpoint_dir, log=skipped.append).name == "step-00000004"
    assert len(skipped) == 1 and "step-00000008" in skipped[0] and "model.safetensors" in skipped[0]

    PlainLMTrainer().train(killed)
    said = [line for line in logs if "skipping step-00000008" in line]  # in the run's own log
    assert said and any("resuming from step-00000004" in line for line in logs)
    a = load_file(str(whole.out_dir / "model" / "model.safetensors"))
    b = load_file(str(killed.out_dir / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((killed.out_dir / "training.json").read_text())["resumed_from_step"] == 4


def test_dry_run_shows_a_corrupt_stage_and_moves_nothing(reference_home, tmp_path):
    home, cache = copy_of(reference_home, tmp_path)
    tr = train_dir(cache, "unigram")
    (tr / "manifest.json").unlink()
    text = Runner(home, progress=False, log=lambda s: None).describe(plan_suite(small_suite()))
    (line,) = [line for line in text.splitlines() if tr.name in line]
    assert "corrupt, will rebuild (has files but no manifest.json)" in line
    assert tr.is_dir() and not list((cache / "train").glob(".corrupt-*"))


def test_checkpoint_cleanup_spares_a_live_writers_temporary_folder(tmp_path):
    """The old cleanup removed every other process's ``.tmp-step-*`` (``Parent directory … does not
    exist`` in the process still writing it); now only a dead owner's go."""
    model = torch.nn.Linear(2, 2)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / "ck" / f".tmp-step-00000001-{hostname()}-{other.pid}-abcdef"
        live.mkdir(parents=True)
        save_checkpoint(tmp_path / "ck", 1, model=model)
        assert live.exists()
    finally:
        other.kill()
        other.wait()
    save_checkpoint(tmp_path / "ck", 2, model=model)
    assert not live.exists()
    assert [p.name for p in list_checkpoints(tmp_path / "ck")] == ["step-00000001", "step-00000002"]


# -- leases and temporary folders ------------------------------------------------------------------


def test_lease_of_a_killed_holder_is_taken_at_once(tmp_path):
    path = tmp_path / ".lease-k"
    code = (
        "import time; from pathlib import Path; from harness.lease import Lease\n"
        f"with Lease.acquire(Path({str(path)!r})):\n    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert lease_live(path)
    finally:
        holder.kill()  # SIGKILL: no chance to release
        holder.wait()
    start = time.monotonic()
    with Lease.acquire(path, timeout=10):  # the TTL is 120 s: a dead owner of this host is not waited for
        assert read_lease(path).pid == os.getpid()
    assert time.monotonic() - start < 5


def test_lease_is_exclusive_and_waiters_sleep_until_release(tmp_path):
    path = tmp_path / ".lease-k"
    with Lease.acquire(path):
        assert lease_live(path) and read_lease(path).pid == os.getpid()
        code = (  # another process: within one process the lease is re-entrant
            "import sys, time; from pathlib import Path; from harness.lease import Lease\n"
            f"t = time.time()\nwith Lease.acquire(Path({str(path)!r})):\n    print(time.time() - t)\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert proc.poll() is None  # still waiting
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and float(out) >= 1.0
    assert not path.exists()


def test_stale_leases_are_broken_by_one_breaker(tmp_path):
    """A lease of a dead process of this host, or one whose heartbeat is older than the TTL (another
    machine that went away), is broken; a fresh one of another machine is respected."""
    dead = tmp_path / ".lease-dead"
    dead.write_text(json.dumps({"host": hostname(), "pid": DEAD_PID, "token": "t1", "started": 0}))
    far = tmp_path / ".lease-far"
    far.write_text(json.dumps({"host": "other-machine", "pid": 1, "token": "t2", "started": 0}))
    assert not lease_live(dead) and lease_live(far)
    with Lease.acquire(dead, timeout=5):
        assert read_lease(dead).pid == os.getpid()
    with pytest.raises(TimeoutError, match="other-machine"), Lease.acquire(far, timeout=0.5):
        pass
    old = time.time() - 3600
    os.utime(far, (old, old))  # its heartbeat stopped an hour ago
    with Lease.acquire(far, ttl=60, timeout=5):
        assert read_lease(far).host == hostname()


def test_of_many_breakers_of_a_stale_lease_exactly_one_wins(tmp_path):
    path = tmp_path / ".lease-k"
    path.write_text(json.dumps({"host": hostname(), "pid": DEAD_PID, "token": "dead", "started": 0}))
    judged = read_lease(path)
    results: list[bool] = []
    start = threading.Barrier(8)

    def breaker() -> None:
        start.wait()
        results.append(break_stale(path, judged))

    threads = [threading.Thread(target=breaker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True] and not path.exists()
    assert not list(tmp_path.glob("*.broken-*"))
    # a breaker that finds a new live owner under the name (taken between its read and its rename)
    # puts that lease back instead of stealing it
    with Lease.acquire(path):
        assert not break_stale(path, judged) and read_lease(path).pid == os.getpid()


def test_heartbeat_keeps_a_long_build_alive(tmp_path):
    path = tmp_path / ".lease-beat"
    with Lease.acquire(path, ttl=0.4):
        first = path.stat().st_mtime
        time.sleep(0.5)
        assert path.stat().st_mtime > first and lease_live(path, ttl=0.4)


def test_clean_tmp_spares_live_owners_on_this_and_other_hosts(tmp_path):
    cache = Cache(tmp_path)
    stage = tmp_path / "train"
    stage.mkdir()
    mine = stage / f".tmp-aaaa-{owner_tag()}"
    dead = stage / f".tmp-bbbb-{hostname()}-{DEAD_PID}-abcdef"
    old_layout = stage / f".tmp-1234-{DEAD_PID}-abcdef"
    remote_live = stage / ".tmp-cccc-othermachine-42-abcdef"
    remote_gone = stage / ".tmp-dddd-othermachine-43-abcdef"
    for d in (mine, dead, old_layout, remote_live, remote_gone):
        d.mkdir()
    lease = {"host": "othermachine", "pid": 42, "token": "x", "started": 0}
    (stage / ".lease-cccc").write_text(json.dumps(lease))
    old = time.time() - 3600
    for d in (remote_live, remote_gone):
        os.utime(d, (old, old))
    assert cache.clean_tmp() == 3
    assert mine.exists() and remote_live.exists()
    assert not dead.exists() and not old_layout.exists() and not remote_gone.exists()
    assert socket.gethostname()  # the host part is this machine's name
