"""Any planeval model as an lm-eval model named ``planeval`` (docs/model-api.md).

    planeval lm-eval --model planeval --model_args variant=tiny-lm,suite=smoke,home=.planeval,seed=0 \\
        --tasks gsm8k --limit 20
    python -m harness.lm_eval_bridge --model planeval --model_args hf=/path/to/model --tasks ...

lm-eval's own ``lm_eval`` command cannot see the model (nothing imports this module there), so both
entries register it and then hand the same arguments to lm-eval's CLI (``lm_eval.__main__.cli_evaluate``,
which reads ``sys.argv``). In Python: ``register()`` then ``lm_eval.simple_evaluate(model="planeval",
model_args=...)``.

``model_args`` (exactly one of ``variant``, ``path``, ``hf``):

* ``variant=<name>,suite=<suite name or YAML>,home=<dir>,seed=<n>`` — the variant's artifact as the
  suite trains it (the same key as ``planeval run``), loaded by its trainer; ``include=<dir>`` registers
  extra YAML (several joined with ``os.pathsep``); ``train=true`` trains it first when not cached;
* ``path=<artifact dir>`` — a trainer artifact (its ``manifest.json`` names the trainer) or any Hugging
  Face model folder;
* ``hf=<name or path>`` — any Hugging Face causal LM (``HFCausalLM``).

lm-eval forwards ``batch_size`` and ``device``; ``dtype`` applies to ``hf``/HF folders.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lm_eval.api.model import LM

from harness.adapters import PlanevalLM
from harness.errors import MissingPathError, PlanevalError

MODEL_NAME = "planeval"
HOME_ENV = "PLANEVAL_HOME"
#: the model_args ``load_adapter`` takes
MODEL_ARGS = ("variant", "suite", "home", "seed", "path", "hf", "include", "train")
MODEL_ARGS += ("batch_size", "device", "dtype")
#: what lm-eval forwards on its own that has no meaning here
_FORWARDED = ("max_batch_size", "trust_remote_code")


def _device(device: str | None) -> str:
    """The device asked for, or the best one there is. lm-eval's CLI forwards ``cuda:0`` by default;
    like lm-eval's ``hf`` model, an unavailable CUDA device falls back to the CPU (with a warning)."""
    import torch

    if device and not (str(device).startswith("cuda") and not torch.cuda.is_available()):
        return str(device)
    if device:
        logging.getLogger(__name__).warning("device %s: CUDA is not available, using the CPU", device)
    return "cuda" if torch.cuda.is_available() else "cpu"


def _batch(batch_size: Any) -> int:
    """lm-eval's ``batch_size`` (``8``, ``"8"``, ``"auto"``, ``"auto:4"``) as our fixed batch size."""
    text = str(batch_size) if batch_size is not None else ""
    return int(text) if text.isdigit() and int(text) > 0 else 16


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _from_hf(target: str, batch_size: Any, device: str | None, dtype: str | None) -> PlanevalLM:
    from harness.hf_adapter import HFCausalLM

    return HFCausalLM.from_pretrained(
        str(target), batch_size=_batch(batch_size), device=_device(device), dtype=dtype or "float32"
    )


def _from_artifact(path: Path, batch_size: Any, device: str | None, dtype: str | None) -> PlanevalLM:
    """A trainer artifact (``manifest.json`` names the trainer) or a Hugging Face model folder."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise MissingPathError(f"model_args path: no such folder {path}")
    manifest = path / "manifest.json"
    if manifest.is_file():
        from trainers.base import TRAINERS

        data = json.loads(manifest.read_text())
        trainer = (data.get("variant") or {}).get("trainer")
        if not trainer:
            raise PlanevalError(f"{manifest}: no variant.trainer: not a planeval trainer artifact")
        adapter = TRAINERS.get(trainer)().load(path, identity=str(data.get("key") or path.resolve()))
        return _set_batch(adapter, batch_size)
    if (path / "config.json").is_file():
        return _from_hf(str(path), batch_size, device, dtype)
    raise PlanevalError(f"model_args path: {path} has neither manifest.json (artifact) nor config.json (HF)")


def _set_batch(adapter: PlanevalLM, batch_size: Any) -> PlanevalLM:
    if batch_size is not None and str(batch_size).isdigit() and hasattr(adapter, "batch_size"):
        adapter.batch_size = int(batch_size)
    return adapter


def _from_variant(
    variant: str, suite: str | None, home: str | None, seed: Any, include: str | None, train: bool
) -> PlanevalLM:
    """The variant's model exactly as ``planeval run <suite>`` builds it (same plan, same key)."""
    from harness.catalog import DEFAULT_SUITE, include_dir, resolve_suite
    from harness.runner import Runner, plan_suite

    for folder in (include or "").split(os.pathsep):
        if folder:
            include_dir(Path(folder))
    spec, source = resolve_suite(suite or DEFAULT_SUITE)
    plan = plan_suite(spec, source)
    matches = [m for m in plan.models if m.variant.name == variant]
    if not matches:
        names = ", ".join(sorted({m.variant.name for m in plan.models}))
        raise PlanevalError(f"model_args variant: {variant!r} is not in suite {spec.name!r} (valid: {names})")
    if seed is not None:
        matches = [m for m in matches if m.seed == int(seed)]
        if not matches:
            raise PlanevalError(f"model_args seed: suite {spec.name!r} has no seed {seed} for {variant!r}")
    ref = matches[0]
    runner = Runner(Path(home or os.environ.get(HOME_ENV) or ".planeval"), progress=False)
    if ref.pretrained is None and not runner.cache.exists("train", ref.key):
        if not train:
            raise PlanevalError(
                f"{ref.label} of suite {spec.name!r} is not trained in {runner.home} (key {ref.key}): run "
                f"'planeval run {suite or DEFAULT_SUITE} --home {runner.home}' first, or pass train=true"
            )
        runner.train(plan, ref)
    return runner.model(ref)


def load_adapter(
    variant: str | None = None,
    suite: str | None = None,
    home: str | None = None,
    seed: Any = None,
    path: str | None = None,
    hf: str | None = None,
    include: str | None = None,
    train: Any = False,
    batch_size: Any = None,
    device: str | None = None,
    dtype: str | None = None,
) -> PlanevalLM:
    """The planeval adapter that ``model_args`` name (see the module docstring)."""
    given = [k for k, v in (("variant", variant), ("path", path), ("hf", hf)) if v]
    if len(given) != 1:
        raise PlanevalError(
            "model_args: give exactly one of variant=<name> (with suite=, home=, seed=), path=<artifact "
            f"dir> or hf=<name or path>; got {given or 'none'}"
        )
    if hf:
        return _from_hf(str(hf), batch_size, device, dtype)
    if path:
        return _from_artifact(Path(str(path)), batch_size, device, dtype)
    adapter = _from_variant(str(variant), suite, home, seed, include, _truthy(train))
    return _set_batch(adapter, batch_size)


class PlanevalBridgeLM(LM):
    """lm-eval's view of a planeval adapter: the three request types go to the adapter, which may do
    more than a plain LM inside them (a planner model's re-planning, a two-stage plan-then-solve
    model's second stage), so lm-eval needs no knowledge of the method."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        unknown = sorted(k for k in kwargs if k not in MODEL_ARGS and k not in _FORWARDED)
        if unknown:
            raise PlanevalError(f"model_args: unknown {', '.join(unknown)} (valid: {', '.join(MODEL_ARGS)})")
        self.model: PlanevalLM = load_adapter(**{k: v for k, v in kwargs.items() if k in MODEL_ARGS})

    @property
    def identity(self) -> str:
        return self.model.identity

    def _run(self, method: str, requests: list[Any]) -> list[Any]:
        self.model.cache_hook = self.cache_hook  # lm-eval's request cache sees the adapter's answers
        return getattr(self.model, method)(requests)

    def loglikelihood(self, requests: list[Any]) -> list[tuple[float, bool]]:
        return self._run("loglikelihood", requests)

    def loglikelihood_rolling(self, requests: list[Any]) -> list[float]:
        return self._run("loglikelihood_rolling", requests)

    def generate_until(self, requests: list[Any]) -> list[str]:
        return self._run("generate_until", requests)

    def __getattr__(self, name: str) -> Any:
        # lm-eval reads optional attributes (tokenizer, max_length, ...): the adapter's, when it has them
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)


def register() -> type[PlanevalBridgeLM]:
    """Register ``planeval`` with lm-eval (idempotent). lm-eval's built-in models are registered first:
    its registry loads them only while empty, so registering into an empty registry hides ``hf`` etc."""
    import lm_eval.models  # noqa: F401
    from lm_eval.api.registry import model_registry, register_model

    if MODEL_NAME not in model_registry:
        register_model(MODEL_NAME)(PlanevalBridgeLM)
    return PlanevalBridgeLM


def main(argv: Sequence[str] | None = None) -> int:
    """lm-eval's command line with ``planeval`` registered: the same arguments as ``lm_eval``."""
    register()
    from lm_eval.__main__ import cli_evaluate

    saved = sys.argv
    sys.argv = ["lm-eval", *(sys.argv[1:] if argv is None else argv)]
    try:
        cli_evaluate()
    except PlanevalError as exc:
        print(f"planeval lm-eval: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:  # argparse and lm-eval exit this way
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
