"""A new model family added from outside the repository (issue 15): an installed package registers a
derived stage of its own, a trainer that requests it, an adapter declaring a new capability and a task
that needs that capability — through entry points only. The suite runs end to end, the pair with a
model lacking the capability is refused at planning (or skipped when the suite says so), and no file of
this repository is touched.

The package lives in a temporary folder on ``PYTHONPATH`` with a ``.dist-info`` carrying its entry points,
as ``pip install`` would leave it; the suite runs in a subprocess so the registries load it fresh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

STAGE = '''
"""Sentence-length histogram of the training split: a derived artifact of this family."""
import json
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.sentences import split_sentences_batch
from harness.stages import DERIVED, DerivedStage


class LengthSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_words: int = Field(40, ge=2)


@DERIVED.register("sentence_lengths")
class SentenceLengths(DerivedStage):
    Spec = LengthSpec

    def build(self, corpus, spec, out_dir, *, log, progress):
        sentences = [s for doc in split_sentences_batch([d.text for d in corpus.train]) for s in doc]
        words = np.minimum([len(s.split()) for s in sentences], spec.max_words)
        counts = np.bincount(words, minlength=spec.max_words + 1)
        (Path(out_dir) / "counts.json").write_text(json.dumps(counts.tolist()))
        log(f"[sentence_lengths] {len(sentences)} sentences")
        return {"n_sentences": len(sentences)}

    def load(self, path, spec):
        return np.asarray(json.loads((Path(path) / "counts.json").read_text()), dtype=np.float64)
'''

TRAINER = '''
"""A unigram LM that also learns a sentence-length prior from the ``sentence_lengths`` artifact."""
import json
from pathlib import Path

import numpy as np
from pydantic import Field

from trainers.base import TRAINERS, Trainer, TrainerConfig
from trainers.unigram import UnigramLM, UnigramTrainer


class LengthLM(UnigramLM):
    capabilities = frozenset({"length_prior"})  # a capability no built-in adapter has

    def __init__(self, prior, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prior = prior

    def length_prior(self):
        return self.prior


class LengthConfig(TrainerConfig):
    alpha: float = Field(1.0, gt=0)
    smoothing: float = Field(0.5, gt=0)


@TRAINERS.register("length_prior")
class LengthPriorTrainer(Trainer):
    Config = LengthConfig

    def artifacts(self, config):
        return ("sentence_lengths",)

    def capabilities(self, config):
        return LengthLM.capabilities

    def train(self, ctx):
        UnigramTrainer().train(ctx)  # the token model: counted like the floor
        counts = ctx.sentence_lengths + ctx.config.smoothing
        (Path(ctx.out_dir) / "prior.json").write_text(json.dumps((counts / counts.sum()).tolist()))

    def load(self, artifact_dir, identity):
        base = UnigramTrainer().load(artifact_dir, identity)
        prior = np.asarray(json.loads((Path(artifact_dir) / "prior.json").read_text()))
        lm = LengthLM(prior, np.zeros(1), base.alpha, base.tokenizer, identity)
        lm.logp = base.logp
        return lm
'''

TASK = '''
"""Log-likelihood of held-out sentence lengths under the model's length prior."""
import numpy as np
import pandas as pd

from harness.sentences import split_sentences_batch
from tasks.base import TASKS, MetricInfo, Task, TaskParams


class LengthParams(TaskParams):
    max_docs: int = 20


@TASKS.register("length_nll")
class LengthNLL(Task):
    Params = LengthParams
    metrics = {"length_nll": MetricInfo(False, "mean NLL of held-out sentence lengths (nats)")}

    def needs(self, params):
        return frozenset({"length_prior"})

    def artifacts(self, params):
        return ("sentence_lengths",)

    def evaluate(self, model, ctx):
        prior = model.length_prior()
        top = len(ctx.sentence_lengths) - 1
        docs = ctx.corpus.test[: ctx.params.max_docs]
        rows = []
        for doc, sentences in zip(docs, split_sentences_batch([d.text for d in docs]), strict=True):
            words = np.minimum([len(s.split()) for s in sentences], top)
            rows.append({"sample_id": doc.id, "nll": float(-np.log(prior[words]).sum()), "n": len(words)})
        return pd.DataFrame(rows)

    def aggregate(self, samples, params):
        return {"length_nll": float(samples["nll"].sum() / samples["n"].sum())}
'''

VARIANT = """\
name: length-prior
family: lengthfam
trainer: length_prior
description: unigram tokens + a sentence-length prior (an out-of-tree family)
params: {smoothing: 0.5}
"""

SUITE = """\
name: lengthfam-suite
corpus: {source: synthetic, params: {n_articles: 60}}
tokenizer: {kind: bpe, vocab_size: 300}
artifacts:
  sentence_lengths: {max_words: 30}
variants: [length-prior, unigram]
tasks:
  - name: perplexity
    params: {mode: rolling, max_docs: 5}
  - name: length_nll
    params: {max_docs: 10}
    ON_INCAPABLE
"""

ENTRY_POINTS = """\
[planeval.stages]
sentence_lengths = lengthfam.stage

[planeval.trainers]
length_prior = lengthfam.trainer

[planeval.tasks]
length_nll = lengthfam.task

[planeval.variants]
lengthfam = lengthfam:SPECS

[planeval.suites]
lengthfam = lengthfam:SPECS
"""


def _install(site: Path, on_incapable: str) -> None:
    """Write the package and its dist-info as an installer would (nothing under the repository)."""
    pkg = site / "lengthfam"
    (pkg / "specs").mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from pathlib import Path\nSPECS = str(Path(__file__).parent / 'specs')\n"
    )
    for name, code in (("stage", STAGE), ("trainer", TRAINER), ("task", TASK)):
        (pkg / f"{name}.py").write_text(textwrap.dedent(code))
    (pkg / "specs" / "length-prior.yaml").write_text(VARIANT)
    (pkg / "specs" / "lengthfam-suite.yaml").write_text(SUITE.replace("ON_INCAPABLE", on_incapable))
    info = site / "lengthfam-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lengthfam\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)


def _planeval(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "OMP_NUM_THREADS": "1",
        "PLANEVAL_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    code = "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def _repo_state() -> str:
    out = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO, capture_output=True, text=True
    )
    return out.stdout if out.returncode == 0 else ""


def test_an_out_of_tree_family_runs_end_to_end(tmp_path: Path) -> None:
    before = _repo_state()
    site = tmp_path / "site"
    _install(site, "on_incapable: skip")
    home = tmp_path / "home"

    dry = _planeval(site, tmp_path, "run", "lengthfam-suite", "--dry-run", "--home", str(home))
    assert dry.returncode == 0, dry.stderr
    assert "sentence_lengths" in dry.stdout  # the family's own derived stage is in the plan
    assert "not run: unigram lacks length_prior" in dry.stdout

    run = _planeval(site, tmp_path, "run", "lengthfam-suite", "--home", str(home), "--no-progress")
    assert run.returncode == 0, run.stdout + run.stderr
    shown = _planeval(site, tmp_path, "leaderboard", "--suite", "lengthfam-suite", "--home", str(home),
                      "--format", "csv")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "length_nll" in shown.stdout and "length-prior" in shown.stdout
    manifests = list((home / "cache" / "sentence_lengths").glob("*/manifest.json"))
    assert len(manifests) == 1  # built once, shared by the trainer and the task
    assert json.loads(manifests[0].read_text())["info"]["n_sentences"] > 0
    if not before:  # a clean checkout (CI) stays clean: nothing of this repository was edited
        assert _repo_state() == ""


def test_an_incapable_pair_is_refused_before_any_work(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install(site, "")
    home = tmp_path / "home"
    out = _planeval(site, tmp_path, "run", "lengthfam-suite", "--home", str(home))
    assert out.returncode == 2
    line = out.stderr.strip().splitlines()[-1]
    assert "tasks.1" in line and "length_nll needs the capability length_prior" in line and "unigram" in line
    assert "Traceback" not in out.stderr and not home.exists()
