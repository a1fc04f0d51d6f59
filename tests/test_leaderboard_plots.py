"""Plots: bars with intervals, the trade-off sweep (x and reference lines from the variants' params and
families, real units, a panel per metric), site curves from runs that break down by site; PNG + SVG
files; ``planeval plot``."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.cli import main
from harness.errors import PlanevalError
from leaderboard.outputs import Selection, build_board, plot_input
from leaderboard.plots import (
    PLOTS,
    PlotInput,
    bars,
    make_plots,
    probe_figure,
    save,
    sites,
    svg_data_uri,
    sweep,
    sweep_positions,
    sweep_references,
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


#: the trainer params of the sweep's variants, as the variant registry holds them
SWEEP_PARAMS = {
    **{f"oracle-mix-{q}": {"train_actions": "mix", "predicted_fraction": q / 100, "selection": "hard"}
       for q in (0, 25, 50, 75, 100)},
    "scheduled-sampling": {"train_actions": "scheduled", "selection": "hard"},
    "lm-only": {"conditioning": "none", "freeze_lm": False},
}  # fmt: skip


def sweep_input(results: pd.DataFrame) -> PlotInput:
    variants = list(dict.fromkeys(results["variant"]))
    x = sweep_positions(variants, x_param="predicted_fraction", params_of=SWEEP_PARAMS.get)
    refs = sweep_references(variants, x, "predicted_fraction", SWEEP_PARAMS.get)
    return PlotInput(results, sweep_x=x, sweep_refs=refs, sweep_label="predicted_fraction")


def test_sweep_positions_come_from_map_or_param_never_a_name():
    variants = ["oracle-mix-25", "custom", "scheduled-sampling", "lm"]
    params = {"custom": {"predicted_fraction": 0.6}, "lm": {}}
    assert sweep_positions(variants) == {}  # a name says nothing
    assert sweep_positions(variants, x_param="predicted_fraction", params_of=params.get) == {"custom": 0.6}
    assert sweep_positions(variants, x_map={"oracle-mix-25": 0.3, "lm": 0.0}) == {
        "oracle-mix-25": 0.3,
        "lm": 0.0,
    }


def test_sweep_references_are_the_same_training_without_an_x():
    variants = list(SWEEP_PARAMS)
    x = sweep_positions(variants, x_param="predicted_fraction", params_of=SWEEP_PARAMS.get)
    assert sorted(x.values()) == [0, 0.25, 0.5, 0.75, 1.0]
    assert sweep_references(variants, x, "predicted_fraction", SWEEP_PARAMS.get) == ("scheduled-sampling",)
    assert sweep_references(variants, {}, "predicted_fraction", SWEEP_PARAMS.get) == ()


def test_sweep_references_include_the_swept_family_baseline():
    variants = list(SWEEP_PARAMS)
    x = sweep_positions(variants, x_param="predicted_fraction", params_of=SWEEP_PARAMS.get)
    families = dict.fromkeys(variants, "planner") | {"tiny-lm": "lm"}
    params = SWEEP_PARAMS | {"tiny-lm": {"max_steps": 300}}
    refs = sweep_references([*variants, "tiny-lm"], x, "predicted_fraction", params.get, families)
    assert refs == (
        "scheduled-sampling",
        "lm-only",
    )  # lm-only: the family's baseline; tiny-lm: another family


def test_sweep_plots_real_values_with_intervals_and_reference_lines():
    results = sweep_results()
    results.loc[results["variant"] == "lm-only", "family"] = "planner"  # the registry's family for lm-only
    results = pd.concat([results, pd.DataFrame([result("lm-only", "plan_match", 0.5)])], ignore_index=True)
    variants = list(dict.fromkeys(results["variant"]))
    x = sweep_positions(variants, x_param="predicted_fraction", params_of=SWEEP_PARAMS.get)
    families = dict(zip(results["variant"], results["family"], strict=True))
    refs = sweep_references(variants, x, "predicted_fraction", SWEEP_PARAMS.get, families)
    [(name, fig)] = sweep(PlotInput(results, sweep_x=x, sweep_refs=refs, sweep_label="predicted_fraction"))
    ppl_ax, match_ax = fig.axes
    assert name == "sweep" and ppl_ax.get_xlabel() == "predicted_fraction"
    assert ppl_ax.get_title() == "t: perplexity ↓" and match_ax.get_title() == "t: plan_match ↑"
    ppl = ppl_ax.containers[0]
    assert list(ppl.lines[0].get_xdata()) == [0, 0.25, 0.5, 0.75, 1.0]
    assert list(ppl.lines[0].get_ydata()) == pytest.approx([20.0, 22.5, 25.0, 27.5, 30.0])  # real units
    segments = ppl.lines[2][0].get_segments()  # the error bars: the runs' CIs, ±0.5
    assert tuple(segments[0][:, 1]) == pytest.approx((19.5, 20.5))
    lines = {
        line.get_label(): line.get_ydata()[0] for line in ppl_ax.get_lines() if line.get_linestyle() == "--"
    }
    assert lines == {"scheduled-sampling": 24.0, "lm-only": 30.0}
    match = {
        line.get_label(): line.get_ydata()[0] for line in match_ax.get_lines() if line.get_linestyle() == "--"
    }
    assert match == {"scheduled-sampling": 0.85, "lm-only": 0.5}
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


def test_sites_plot_reads_the_samples_of_runs_that_break_down_by_site():
    runs = pd.DataFrame(
        [
            {"run_id": "r1", "variant": "soft", "seed": 0, "task": "probing", "task_name": "p"},
            {"run_id": "r2", "variant": "soft", "seed": 0, "task": "ppl", "task_name": "q"},
        ]
    )
    results = pd.DataFrame(
        [
            result("soft", "acc", 0.5, task="probing") | {"run_id": "r1", "dims": {}},
            result("soft", "acc@layer1.pre_merge@k1", 0.5, task="probing")
            | {"run_id": "r1", "dims": {"site": "layer1.pre_merge", "k": 1}},
            result("soft", "perplexity", 9.0, task="ppl") | {"run_id": "r2", "dims": {}},
        ]
    )
    data = PlotInput(results, runs, load=lambda run: probe_frame())
    [(name, _)] = sites(data)
    assert name == "sites_soft_0"
    assert sites(PlotInput(results, runs)) == []  # no way to reach samples
    assert sites(PlotInput(results.assign(dims=None), runs, load=lambda run: probe_frame())) == []


def test_unknown_plot_kind():
    valid = "valid: bars, sites, sweep, training, all"
    with pytest.raises(PlanevalError, match=rf"unknown plot 'bar'.*did you mean 'bars'.*{valid}"):
        make_plots("bar", PlotInput(sweep_results()))
    assert set(PLOTS) == {"bars", "sweep", "sites", "training"}


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
    code = main(["plot", "--db", store.url, "--out", str(out), "--kind", "sites"])
    err = capsys.readouterr().err
    assert code == 2 and "nothing to draw for --kind sites" in err
    code = main(["plot", "--db", store.url, "--out", str(out / "m"), "--kind", "sweep",
                 "--sweep-map", "lm-only=0.5", "--variants", "lm-only,scheduled-sampling"])  # fmt: skip
    assert code == 0 and (out / "m" / "sweep.svg").exists()


def test_cli_sweep_on_a_trade_off_leaderboard(tmp_path):
    """The registered sweep variants: x from their predicted_fraction, lm-only and scheduled sampling as
    reference lines, a panel per metric in real units."""
    from _sweep_data import build_sweep

    fx = build_sweep(tmp_path)
    data = plot_input(build_board(fx.store, Selection(suite="tradeoff", metrics="perplexity,plan_match")))
    assert data.sweep_x == {f"oracle-mix-{q}": q / 100 for q in (0, 25, 50, 75, 100)}
    assert set(data.sweep_refs) == {"lm-only", "scheduled-sampling"}
    [(_, fig)] = sweep(data)
    assert [ax.get_title() for ax in fig.axes] == ["ppl-paper: perplexity ↓", "plan_match: plan_match ↑"]
    titles = {ax.get_title(): ax for ax in fig.axes}
    assert set(titles) == {"ppl-paper: perplexity ↓", "plan_match: plan_match ↑"}
    refs = [
        line.get_label()
        for line in titles["ppl-paper: perplexity ↓"].get_lines()
        if line.get_linestyle() == "--"
    ]
    assert refs == ["lm-only", "scheduled-sampling"]
    ppl = titles["ppl-paper: perplexity ↓"].containers[0].lines[0].get_ydata()
    assert min(ppl) > 10 and max(ppl) < 16 and ppl[0] > ppl[-1]  # perplexities, falling with q
    assert (
        main(
            [
                "plot",
                "--db",
                fx.store.url,
                "--suite",
                "tradeoff",
                "--kind",
                "sweep",
                "--out",
                str(tmp_path / "p"),
            ]
        )
        == 0
    )
    assert (tmp_path / "p" / "sweep.png").read_bytes()[:4] == b"\x89PNG"
