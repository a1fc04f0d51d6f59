"""Plots: bars with intervals, the oracle/predicted sweep (q from data, normalised), probing curves;
PNG + SVG files; ``planeval plot``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from harness.errors import PlanevalError
from leaderboard.plots import (
    PLOTS,
    PlotInput,
    bars,
    make_plots,
    normalise,
    probe_figure,
    probes,
    save,
    svg_data_uri,
    sweep,
    sweep_positions,
)
from leaderboard.store import MetricRecord, RunRecord, Store


def result(variant, metric, value, task="t", family="planner", seed=0, lo=None, hi=None, higher=True):
    return {
        "run_id": f"{variant}-{task}-{seed}", "suite": "s", "variant": variant, "family": family,
        "task": task, "seed": seed, "metric": metric, "value": value, "n": 50, "ci_low": lo, "ci_high": hi,
        "higher_is_better": higher, "config_hash": "c", "model_key": "m", "git_commit": "g",
    }  # fmt: skip


def sweep_results() -> pd.DataFrame:
    """Perplexity grows and plan-match falls as more actions are predicted; scheduled sampling between."""
    rows = []
    for q in (0, 25, 50, 75, 100):
        ppl = 20 + q / 10
        rows.append(result(f"oracle-mix-{q}", "perplexity", ppl, lo=ppl - 0.5, hi=ppl + 0.5, higher=False))
        rows.append(result(f"oracle-mix-{q}", "plan_match", 0.9 - q / 500))
    rows.append(result("scheduled-sampling", "perplexity", 24.0, higher=False))
    rows.append(result("scheduled-sampling", "plan_match", 0.85))
    rows.append(result("lm-only", "perplexity", 30.0, family="lm", higher=False))
    return pd.DataFrame(rows)


def test_sweep_positions_come_from_map_param_or_name():
    variants = ["oracle-mix-25", "custom", "scheduled-sampling", "lm"]
    params = {"custom": {"predicted_fraction": 0.6}, "lm": {}}
    assert sweep_positions(variants) == {"oracle-mix-25": 0.25}
    assert sweep_positions(variants, x_param="predicted_fraction", params_of=params.get) == {
        "oracle-mix-25": 0.25, "custom": 0.6,
    }  # fmt: skip
    assert sweep_positions(variants, x_map={"oracle-mix-25": 0.3, "lm": 0.0}) == {
        "oracle-mix-25": 0.3,
        "lm": 0.0,
    }


def test_normalise_makes_higher_better():
    scaled, worst, span = normalise(np.array([20.0, 25.0, 30.0]), higher_is_better=False)
    assert list(scaled) == [1.0, 0.5, 0.0] and (worst, span) == (30.0, -10.0)
    assert list(normalise(np.array([0.2, 0.4]), True)[0]) == [0.0, 1.0]
    assert list(normalise(np.array([3.0, 3.0]), True)[0]) == [1.0, 1.0]


def test_sweep_plots_points_and_reference_lines():
    results = sweep_results()
    x = sweep_positions(list(results["variant"].unique()))
    [(name, fig)] = sweep(PlotInput(results, sweep_x=x))
    ax = fig.axes[0]
    assert name == "sweep" and ax.get_xlabel() == "fraction q of planner-predicted actions"
    series = {c.get_label(): c.lines[0] for c in ax.containers}  # errorbar containers carry the labels
    assert set(series) == {"perplexity ↓", "plan_match ↑"}
    ppl = series["perplexity ↓"]
    assert list(ppl.get_xdata()) == [0, 0.25, 0.5, 0.75, 1.0]
    assert ppl.get_ydata()[0] == pytest.approx(1.0) and ppl.get_ydata()[-1] == pytest.approx(
        0.0
    )  # up = better
    refs = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(refs) == 2  # scheduled sampling, once per metric; lm-only has no q and is not a reference
    assert refs[0].get_ydata()[0] == pytest.approx((30 - 24) / 10)
    assert sweep(PlotInput(results)) == []  # no q known: nothing to draw


def test_bars_one_figure_per_task_with_intervals(tmp_path):
    results = pd.concat(
        [sweep_results(), pd.DataFrame([result("lm-only", "acc", 0.5, task="u", family="lm")])]
    )
    figures = bars(PlotInput(results))
    assert [name for name, _ in figures] == ["bars_t", "bars_u"]
    fig = figures[0][1]
    assert [ax.get_title() for ax in fig.axes] == ["perplexity ↓", "plan_match ↑"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][:2] == ["lm-only", "oracle-mix-0"]
    paths = save(fig, tmp_path / "out" / "bars_t")
    assert [p.name for p in paths] == ["bars_t.png", "bars_t.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in paths[1].read_bytes()[:400]
    assert svg_data_uri(fig).startswith("data:image/svg+xml;base64,")


def probe_frame() -> pd.DataFrame:
    """Shaped like the probes task's samples: counts per (document, site, k), sites layer<i>.<kind>."""
    rows = [
        {"sample_id": f"d{doc}", "site": f"layer{layer}.{kind}", "layer": layer, "k": k, "n_tokens": 100,
         "n_correct": 60 - 10 * k + 2 * layer + (5 if kind == "post_merge" else 0) + doc}
        for kind in ("pre_merge", "post_merge") for layer in (1, 2, 3) for k in (1, 2) for doc in (0, 2)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_probe_curves_from_the_probes_tasks_samples():
    fig = probe_figure(probe_frame(), "tiny-planner")
    assert [ax.get_title() for ax in fig.axes] == ["post_merge", "pre_merge"]
    k1 = fig.axes[1].get_lines()[0]
    assert k1.get_label() == "k=1" and list(k1.get_xdata()) == [1, 2, 3]
    assert k1.get_ydata() == pytest.approx([0.53, 0.55, 0.57])  # Σ correct / Σ tokens over documents
    with pytest.raises(PlanevalError, match=r"probe samples lack columns"):
        probe_figure(probe_frame().drop(columns="n_correct"))


def test_probe_points_from_an_accuracy_column_and_sites_without_layers():
    frame = pd.DataFrame(
        {
            "site": ["emb", "emb", "final", "final"],
            "layer": [None] * 4,
            "k": [1, 2, 1, 2],
            "accuracy": [0.5, 0.3, 0.6, 0.4],
        }
    )
    fig = probe_figure(frame)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["kind=emb", "kind=final"]
    assert fig.axes[0].get_xlabel() == "tokens ahead (k)"


def test_probes_plot_reads_the_runs_samples():
    runs = pd.DataFrame(
        [
            {"run_id": "r1", "variant": "soft", "seed": 0, "task": "probes", "task_name": "probes"},
            {"run_id": "r2", "variant": "soft", "seed": 0, "task": "ppl", "task_name": "perplexity"},
        ]
    )
    results = pd.DataFrame([result("soft", "acc", 0.5, task="probes") | {"run_id": "r1"}])
    data = PlotInput(results, runs, load=lambda run: probe_frame() if run["run_id"] == "r1" else None)
    [(name, _)] = probes(data)
    assert name == "probes_soft_0"
    assert probes(PlotInput(results, runs)) == []  # no way to reach samples


def test_unknown_plot_kind():
    with pytest.raises(
        PlanevalError, match=r"unknown plot 'bar'.*did you mean 'bars'.*valid: bars, probes, sweep, all"
    ):
        make_plots("bar", PlotInput(sweep_results()))
    assert set(PLOTS) == {"bars", "sweep", "probes"}


def test_cli_plot(tmp_path, capsys):
    store = Store(tmp_path / "lb.db")
    for i, row in enumerate(sweep_results().to_dict("records")):
        run = RunRecord(
            run_id=f"r{i}", suite="s", variant=row["variant"], family=row["family"], task="t", task_name="t",
            seed=0, config_hash="c", model_key="m", eval_key=f"e{i}", git_commit="g", package_versions={},
            timings={}, params={},
        )  # fmt: skip
        store.record(run, [MetricRecord(row["metric"], row["value"], 50, row["ci_low"], row["ci_high"],
                                        higher_is_better=row["higher_is_better"])])  # fmt: skip
    out = tmp_path / "plots"
    code = main(["plot", "--db", store.url, "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["bars_t.png", "bars_t.svg", "sweep.png", "sweep.svg"]
    capsys.readouterr()
    code = main(["plot", "--db", store.url, "--out", str(out), "--kind", "probes"])
    err = capsys.readouterr().err
    assert code == 2 and "nothing to draw for --kind probes" in err
    code = main(["plot", "--db", store.url, "--out", str(out / "m"), "--kind", "sweep",
                 "--sweep-map", "lm-only=0.5", "--variants", "lm-only,scheduled-sampling"])  # fmt: skip
    assert code == 0 and (out / "m" / "sweep.svg").exists()
