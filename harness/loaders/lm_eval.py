"""``lm-eval:<model>[,<model_args>]``: any model lm-evaluation-harness's registry has, as a variant.

``lm-eval:hf,pretrained=/models/x,dtype=float32`` is ``lm_eval.api.registry.get_model("hf")
.create_from_arg_string("pretrained=/models/x,dtype=float32")`` behind ``harness.lm_eval_adapter``. The
identity (part of every key) is the model name and its arguments, sorted, with a local ``pretrained=``
folder resolved and its weights digested (as ``hf:`` does); ``batch_size``, ``max_batch_size`` and
``device`` change no number and are left out of it; ``name=`` is the row label in tables, not a model arg.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import SpecError
from harness.loaders import LOADERS, LoadedModel, ModelLoader, split_args
from harness.pretrained import MODEL_FILES, check_source, context_length, looks_local

if TYPE_CHECKING:
    from harness.adapters import PlanevalLM

#: model args that change how fast a model runs, not what it computes
RUNTIME_ARGS = frozenset({"batch_size", "max_batch_size", "device"})


@LOADERS.register("lm-eval")
class LMEvalLoader(ModelLoader):
    def plan(self, target: str, source: str, field: str) -> LoadedModel:
        from lm_eval.api.registry import get_model  # lm-eval's registry only once an lm-eval: model is named

        from harness.hf_adapter import local_identity
        from harness.lm_eval_adapter import lm_eval_capabilities

        name, args = split_args(target, source, field)
        label = args.pop("name", None)  # the row label (as hf:'s name=), not a model arg
        if not name:
            raise SpecError(
                source, field, "'lm-eval:': give an lm-eval model name, e.g. lm-eval:hf,pretrained=DIR"
            )
        try:
            model_cls = get_model(name)
        except ValueError as exc:
            raise SpecError(
                source, field, f"lm-eval has no model {name!r} ({str(exc).split('! ')[-1]})"
            ) from None
        digest, context = "", None
        pretrained = args.get("pretrained")
        if pretrained and looks_local(pretrained):
            folder = check_source(pretrained, source, field, "model", MODEL_FILES)
            args["pretrained"] = str(Path(pretrained).expanduser().resolve())
            digest, context = local_identity(Path(pretrained)).rpartition("#")[2], context_length(folder)
        elif pretrained:
            context = context_length(check_source(pretrained, source, field, "model", MODEL_FILES))
        if args.get("max_length", "").isdigit():
            context = int(args["max_length"])
        kept = ",".join(f"{k}={v}" for k, v in sorted(args.items()) if k not in RUNTIME_ARGS)
        identity = f"lm-eval:{name}" + (f",{kept}" if kept else "") + (f"#{digest}" if digest else "")
        load_args = ",".join(f"{k}={v}" for k, v in args.items())
        return LoadedModel(
            f"{name},{load_args}", identity, context, lm_eval_capabilities(model_cls), family="lm-eval",
            label=label or None,
        )  # fmt: skip

    def load(self, model: LoadedModel) -> PlanevalLM:
        from lm_eval.api.registry import get_model

        from harness.devices import resolve_device
        from harness.lm_eval_adapter import LMEvalModel

        name, _, args = model.target.partition(",")
        # as lm-eval's simple_evaluate hands them over; an unset device is this machine's accelerator
        device = None if ",device=" in f",{args}" else resolve_device("auto")
        lm = get_model(name).create_from_arg_string(args, {"batch_size": None, "device": device})
        return LMEvalModel(lm, model.identity, model.capabilities)
