"""A trainer run under ``accelerate launch`` for ``test_distributed.py`` (1 or 2 CPU processes, gloo):
``nap`` pretrains the planner on the learnable-cycle corpus of ``test_planner_training``; ``lm`` trains
a micro GPT-2 (no dropout) on a small synthetic corpus. The artifact goes to the folder given."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared fixtures

from test_planner_training import _corpus_and_tagger, _ctx

from harness.corpus import build_corpus
from harness.specs import CorpusSpec
from trainers.lm import LMConfig, PlainLMTrainer
from trainers.planner.nap import NAPConfig, NAPTrainer

if __name__ == "__main__":
    which, out = sys.argv[1], Path(sys.argv[2])
    if which == "nap":
        corpus, tagger = _corpus_and_tagger()
        cfg = NAPConfig(max_steps=120, batch_size=8, lr=3e-3, arch={"max_sentences": 8}, checkpoint_every=60)
        NAPTrainer().train(_ctx(out, cfg, corpus, tagger, "nap"))
    else:
        corpus = build_corpus(CorpusSpec(params={"n_articles": 60}))
        cfg = LMConfig(
            weights="preset:micro", dropout=0.0, max_steps=40, batch_size=8, seq_len=32, checkpoint_every=40
        )
        PlainLMTrainer().train(_ctx(out, cfg, corpus, None, "lm"))  # _ctx gives the tiny tokenizer
