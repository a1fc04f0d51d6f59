"""Write arithmetic problems as GSM8K-format JSON Lines (``question``, ``answer`` ending in ``#### N``), so
tools that read GSM8K files (the ``gsm8k`` task's ``dataset: <file>``, lm-eval's gsm8k on a local file)
can evaluate on them.

``python -m harness.corpus.arithmetic OUT.jsonl [--n-problems N] [--levels 1 2] [--split test] [--seed 0]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.corpus import build_corpus
from harness.specs import CorpusSpec


def export(out: Path, n_problems: int, levels: list[int], split: str, seed: int) -> int:
    spec = CorpusSpec(source="arithmetic", params={"n_problems": n_problems, "levels": levels}, seed=seed)
    docs = build_corpus(spec).split(split)
    with open(out, "w", encoding="utf-8") as f:
        for d in docs:
            record = {"question": d.meta["question"], "answer": d.meta["solution"], "level": d.meta["level"]}
            f.write(json.dumps(record) + "\n")
    return len(docs)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m harness.corpus.arithmetic", description=__doc__.split("\n")[0]
    )
    ap.add_argument("out", type=Path)
    ap.add_argument("--n-problems", type=int, default=6000)
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--split", choices=("train", "val", "test"), default="test")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    n = export(a.out, a.n_problems, a.levels, a.split, a.seed)
    print(f"wrote {n} problems to {a.out}")


if __name__ == "__main__":
    main()
