"""Experiment tracking (issue 18): every trainer's full history lands in the artifact and the
leaderboard, and ``--log-to wandb,mlflow`` logs the trainings and evaluations of a micro suite to W&B
(offline mode) and MLflow (a local SQLite store), read back through each library's own reader."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from leaderboard.store import Store
from trainers.history import read_history

INCLUDE = str(Path(__file__).parent / "data" / "include")
SUITE = """\
name: tracked
corpus: {source: synthetic, params: {n_articles: 160}}
tokenizer: {kind: bpe, vocab_size: 400}
variants: [micro-lm]
seeds: [0]
overrides: {micro-lm: {max_steps: 12, checkpoint_every: 5}}
tasks:
  - {name: perplexity, alias: ppl, params: {mode: rolling}}
"""


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> dict:
    pytest.importorskip("wandb", reason="the wandb package is not installed (pip install planeval[tracking])")
    pytest.importorskip(
        "mlflow", reason="the mlflow package is not installed (pip install planeval[tracking])"
    )
    root = tmp_path_factory.mktemp("tracked")
    suite = root / "suite.yaml"
    suite.write_text(SUITE)
    home, db = root / "home", f"sqlite:///{root / 'board.db'}"
    mp = pytest.MonkeyPatch()
    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR", "MLFLOW_TRACKING_URI"):
        mp.delenv(var, raising=False)
    mp.setenv("WANDB_SILENT", "true")
    argv = ["run", str(suite), "--include", INCLUDE, "--home", str(home), "--db", db, "--no-progress"]
    assert main([*argv, "--log-to", "wandb,mlflow"]) == 0
    mp.undo()
    return {"home": home, "db": db, "argv": argv}


def _train_dir(home: Path) -> Path:
    (folder,) = [p for p in (home / "cache" / "train").iterdir() if p.is_dir() and not p.name.startswith(".")]
    return folder


def test_every_step_is_in_the_artifact_and_the_leaderboard(tracked) -> None:
    history = read_history(_train_dir(tracked["home"]))
    assert [r["step"] for r in history] == list(range(1, 13))  # all of them, not the last 50
    assert {r["phase"] for r in history} == {"lm"} and all({"loss", "lr"} <= set(r) for r in history)
    summary = json.loads((_train_dir(tracked["home"]) / "training.json").read_text())
    curves = Store(tracked["db"]).training_curves(suite="tracked")
    losses = curves[curves["name"] == "loss"].sort_values("step")
    assert list(losses["step"]) == list(range(1, 13)) and set(curves["variant"]) == {"micro-lm"}
    assert losses["value"].tolist() == [r["loss"] for r in history]
    assert summary["final_train_loss"] == pytest.approx(losses["value"].tail(10).mean())


def _wandb_records(path: Path) -> list:
    """The protobuf records of a W&B transaction log (``run-*.wandb``): a 7-byte header, then LevelDB's
    log format (32 KiB blocks; chunk headers of checksum, length, type FULL/FIRST/MIDDLE/LAST). W&B's
    Go core writes it and ships no Python reader; ``wandb sync`` uploads exactly these records."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data, block, pos = path.read_bytes(), 32768, 7
    assert data[:4] == b":W&B"
    chunks, partial = [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if left >= 7 else (0, 0, 0)
        if left < 7 or (length == 0 and kind == 0):
            pos += left  # the block's zero padding
            continue
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:
            chunks.append(chunk)
        elif kind in (2, 3):
            partial += chunk
        else:
            chunks.append(partial + chunk)
            partial = b""
    records = []
    for chunk in chunks:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunk)
        records.append(record)
    return records


def _items(items) -> dict:
    return {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items}


def test_wandb_offline_run_holds_the_curve_and_the_metrics(tracked) -> None:
    runs = sorted((tracked["home"] / "wandb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 2  # the training and the evaluation
    logged, summary = [], {}
    for run in runs:
        (log_file,) = run.glob("run-*.wandb")
        for record in _wandb_records(log_file):
            kind = record.WhichOneof("record_type")
            if kind == "history":
                logged.append(_items(record.history.item))
            elif kind == "summary":
                summary.update(_items(record.summary.update))
    curve = [row for row in logged if "lm/step" in row]
    history = read_history(_train_dir(tracked["home"]))
    assert [row["lm/step"] for row in curve] == list(range(1, 13))
    assert [row["lm/loss"] for row in curve] == pytest.approx([r["loss"] for r in history])
    board = Store(tracked["db"]).results(suite="tracked")
    ppl = float(board[board["metric"] == "perplexity"]["value"].iloc[0])
    assert summary["ppl/perplexity"] == pytest.approx(ppl) and summary["status"] == "ok"


def test_mlflow_runs_hold_the_curve_and_the_metrics(tracked) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{(tracked['home'] / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name("tracked")
    runs = {r.data.tags["planeval.kind"]: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"train", "eval"}
    curve = client.get_metric_history(runs["train"].info.run_id, "lm.loss")
    assert sorted(m.step for m in curve) == list(range(1, 13))
    history = read_history(_train_dir(tracked["home"]))
    assert [m.value for m in sorted(curve, key=lambda m: m.step)] == pytest.approx(
        [r["loss"] for r in history]
    )
    board = Store(tracked["db"]).results(suite="tracked")
    ppl = float(board[board["metric"] == "perplexity"]["value"].iloc[0])
    assert runs["eval"].data.metrics["perplexity"] == pytest.approx(ppl)
    assert runs["eval"].data.params["mode"] == "rolling" and runs["eval"].info.status == "FINISHED"


def test_a_cached_rerun_logs_nothing_more_and_an_unknown_tracker_is_one_line(tracked, capsys) -> None:
    before = len(list((tracked["home"] / "wandb" / "wandb").glob("offline-run-*")))
    assert main([*tracked["argv"], "--log-to", "wandb"]) == 0
    assert len(list((tracked["home"] / "wandb" / "wandb").glob("offline-run-*"))) == before
    capsys.readouterr()
    assert main([*tracked["argv"], "--log-to", "tensorboardx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown tracker 'tensorboardx'" in err[0] and "mlflow, wandb" in err[0]


def test_plot_training_draws_the_recorded_curves_from_the_database(tracked, tmp_path, capsys) -> None:
    db, out, other = tracked["db"], tmp_path / "plots", str(tmp_path / "another-home")
    argv = ["plot", "--kind", "training", "--suite", "tracked", "--db", db, "--home", other]
    argv += ["--out", str(out)]
    assert main(argv) == 0  # the database alone: another home, no cache
    assert (out / "training_lm.png").stat().st_size > 0 and (out / "training_lm.svg").is_file()
    from leaderboard.plots import PlotInput, training

    curves = Store(db).training_curves(suite="tracked")
    ((name, fig),) = training(PlotInput(results=pd.DataFrame(), curves=curves))
    (loss_axes, *_) = fig.axes
    (line,) = loss_axes.get_lines()
    assert name == "training_lm" and loss_axes.get_title() == "loss"
    assert list(line.get_xdata()) == list(range(1, 13))
    assert list(line.get_ydata()) == curves[curves["name"] == "loss"].sort_values("step")["value"].tolist()
