"""Generation-metric costs, each as a ratio to a reference measured in the same run.

* Generation + tagging per 1k generated tokens: the tiny GPT-2 of docs/environment.md (4 layers, d=256, 8k
  vocabulary, 128 positions, random weights) samples unconditional 128-token texts through the shared
  protocol (``harness.generation``), and the writing-action tagger (spaCy sentencizer + the packaged
  MiniLM encoder + nearest of 64 centroids) tags text of the same token count. Reference: the adapter's
  ``generate()`` alone. The tagged text is synthetic-corpus text cut to the generated token count,
  because a random-weight model's bytes are not sentences a trained model would write.
* MAUVE on 1000 vs 1000 texts with precomputed 384-d features (MiniLM's width): ``tasks.mauve``'s
  quantize + score vs mauve-text's ``compute_mauve`` on the same features, plus the 1000-resample
  bootstrap the runner performs on the sample table (the quantization is done once, so a resample only
  re-histograms).

Everything runs on one thread (torch, faiss, BLAS): on the shared 2-core machine several jobs run at once,
and two OpenMP threads per op then spin against each other (a small probe epoch took 40× longer, a
1000-point faiss k-means ~100×); one thread gives stable ratios.

Run: ``.venv/bin/pytest benchmarks/bench_generation_metrics.py --benchmark-enable -q``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch
from _models import tiny_tokenizer
from transformers import GPT2Config, GPT2LMHeadModel

from harness.actions import ActionTagger
from harness.corpus import build_corpus
from harness.generation import Generations, UnconditionalProtocol
from harness.hf_adapter import HFCausalLM
from harness.sampling import Sampling
from harness.specs import CorpusSpec
from harness.statistics import bootstrap_ci
from tasks.mauve import Mauve, MauveParams, mauve_from_labels, quantize

N_SAMPLES = 16
NEW_TOKENS = 128
_TIMES: dict[str, float] = {}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """torch, faiss and BLAS (sklearn's PCA) on one thread each."""
    import faiss
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before[0])
    faiss.omp_set_num_threads(before[1])


@pytest.fixture(scope="module")
def lm() -> HFCausalLM:
    tok = tiny_tokenizer(8192)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=8192, n_positions=128, n_embd=256, n_layer=4, n_head=4,
        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id,
    )  # fmt: skip
    return HFCausalLM(GPT2LMHeadModel(config).eval(), tok, identity="bench:tiny", batch_size=16)


@pytest.fixture(scope="module")
def tagger() -> ActionTagger:
    centroids = np.random.default_rng(0).normal(size=(64, 384)).astype(np.float32)
    t = ActionTagger(centroids)
    t.tag(["Warm up the encoder and the sentencizer."])
    return t


@pytest.fixture(scope="module")
def real_text(lm: HFCausalLM) -> list[str]:
    """Synthetic-corpus documents cut to ``NEW_TOKENS`` tokens each (the generated texts' length)."""
    corpus = build_corpus(CorpusSpec(source="synthetic", params={"n_articles": 200}))
    docs = [d.text for d in corpus.train if len(lm.encode(d.text)) >= NEW_TOKENS][:N_SAMPLES]
    return [lm.tokenizer.decode(lm.encode(t)[:NEW_TOKENS]) for t in docs]


def _per_1k(seconds: float) -> float:
    return seconds / (N_SAMPLES * NEW_TOKENS) * 1000


@pytest.mark.benchmark(group="generation + tagging")
def test_generate_alone(benchmark, lm: HFCausalLM) -> None:
    out = benchmark.pedantic(
        lambda: lm.generate([""] * N_SAMPLES, Sampling(max_new_tokens=NEW_TOKENS, seed=0, stop_at_eos=False)),
        rounds=3,
        warmup_rounds=1,
    )
    assert sum(len(g.token_ids) for g in out) == N_SAMPLES * NEW_TOKENS
    _TIMES["generate"] = benchmark.stats.stats.min
    benchmark.extra_info.update(s_per_1k_tokens=round(_per_1k(_TIMES["generate"]), 4))


@pytest.mark.benchmark(group="generation + tagging")
def test_protocol_and_tagging(
    benchmark, lm: HFCausalLM, tagger: ActionTagger, real_text, record_figure
) -> None:
    sampling = Sampling(max_new_tokens=NEW_TOKENS, seed=0, stop_at_eos=False)
    protocol = UnconditionalProtocol(n_samples=N_SAMPLES, sampling=sampling)
    timings: dict[str, list[float]] = {"gen": [], "tag": []}

    def run() -> None:
        t0 = time.perf_counter()
        table = Generations(lm).unconditional(protocol)  # no cache: generates every round
        t1 = time.perf_counter()
        tagger.embedder._memo.clear()  # every round embeds from scratch
        tags = tagger.tag(real_text)
        timings["gen"].append(t1 - t0)
        timings["tag"].append(time.perf_counter() - t1)
        assert len(table) == N_SAMPLES and all(tags)

    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    gen, tag = min(timings["gen"][1:]), min(timings["tag"][1:])
    n_sents = sum(len(s) for s in tagger.split(real_text))
    line = (
        f"protocol generate {_per_1k(gen):.3f} s/1k tokens, tagging {_per_1k(tag):.3f} s/1k tokens "
        f"({n_sents} sentences)"
    )
    if "generate" in _TIMES:
        ratio = (gen + tag) / _TIMES["generate"]
        plain = _per_1k(_TIMES["generate"])
        line += f"; plain generate() {plain:.3f} s/1k; (protocol + tagging)/generate = {ratio:.2f}"
        benchmark.extra_info.update(ratio_vs_generate=round(ratio, 3))
    benchmark.extra_info.update(gen_s_per_1k=round(_per_1k(gen), 4), tag_s_per_1k=round(_per_1k(tag), 4))
    record_figure("generation + tagging", line)


@pytest.fixture(scope="module")
def features() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, 384))
    p = centers[rng.integers(0, 20, 1000)] + rng.normal(scale=0.8, size=(1000, 384))
    q = centers[rng.integers(0, 20, 1000)] + 0.3 + rng.normal(scale=0.8, size=(1000, 384))
    return p.astype(np.float32), q.astype(np.float32)


@pytest.mark.benchmark(group="mauve 1000 vs 1000")
def test_mauve_compute_mauve(benchmark, features) -> None:
    from mauve import compute_mauve

    p, q = features
    out = benchmark.pedantic(
        lambda: compute_mauve(p_features=p, q_features=q, device_id=-1, seed=1), rounds=2, warmup_rounds=0
    )
    _TIMES["compute_mauve"] = benchmark.stats.stats.min
    _TIMES["compute_mauve_value"] = out.mauve


@pytest.mark.benchmark(group="mauve 1000 vs 1000")
def test_mauve_task(benchmark, features, record_figure) -> None:
    p, q = features

    def run() -> dict[str, float]:
        pl, ql, k = quantize(p, q, seed=1)
        return mauve_from_labels(pl, ql, k)

    out = benchmark.pedantic(run, rounds=2, warmup_rounds=0)
    ours = benchmark.stats.stats.min
    # the task's default: 5 quantizations (k-means seeds), then the runner's 1000-resample bootstrap
    params = MauveParams()
    t0 = time.perf_counter()
    ids = [f"{i:05d}" for i in range(len(p))]
    table = pd.DataFrame({"sample_id": ids + ids, "side": ["real"] * len(p) + ["generated"] * len(q)})
    for j in range(params.kmeans_seeds):
        pl, ql, k = quantize(p, q, seed=1 + j)
        table[f"bucket{j}"] = np.concatenate([pl, ql])
    table["num_buckets"] = k
    five = time.perf_counter() - t0
    t0 = time.perf_counter()
    bootstrap_ci(table, lambda df: Mauve().aggregate(df, params), n_boot=1000, groups="sample_id")
    boot = time.perf_counter() - t0
    line = (
        f"ours {ours:.2f} s per quantization (mauve {out['mauve']:.4f}); 5 quantizations {five:.1f} s; "
        f"bootstrap 1000 resamples × 5 quantizations {boot:.1f} s"
    )
    if "compute_mauve" in _TIMES:
        assert out["mauve"] == _TIMES["compute_mauve_value"]
        ratio = ours / _TIMES["compute_mauve"]
        line += f"; compute_mauve {_TIMES['compute_mauve']:.2f} s; time ours/compute_mauve = {ratio:.2f}"
        benchmark.extra_info.update(ratio_vs_compute_mauve=round(ratio, 3))
    benchmark.extra_info.update(bootstrap_s=round(boot, 2))
    record_figure("mauve 1000 vs 1000", line)
