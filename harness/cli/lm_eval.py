"""``planeval lm-eval ARGS`` = ``lm_eval ARGS`` with the ``planeval`` model registered. The bridge
(and with it torch and lm-eval) is imported only when the command runs."""

from __future__ import annotations

import argparse


def cmd_lm_eval(args: argparse.Namespace) -> int:
    from harness.lm_eval_bridge import main as lm_eval_main

    return lm_eval_main(args.lm_eval_args)


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    # everything after 'lm-eval' goes to lm-eval untouched ('+' prefix: '--model' is not ours to parse)
    p = sub.add_parser(
        "lm-eval",
        add_help=False,
        prefix_chars="+",
        help=help,
        description="lm-eval's CLI; --model_args variant=V,suite=S,home=DIR,seed=N | path=DIR | hf=NAME",
    )
    p.add_argument("lm_eval_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_lm_eval)
