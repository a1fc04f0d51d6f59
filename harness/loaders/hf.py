"""``hf:<Hub id or local folder>[,key=value...]``: any Hugging Face causal LM, evaluated as it is.

Options (lm-eval's ``model_args`` spelling, after the target):

* ``dtype``: ``auto`` (the checkpoint's own), ``bf16``, ``fp16``, ``fp32`` (the default);
* ``device``: ``auto`` (CUDA, then MPS, else CPU), ``cpu`` (the default), ``cuda[:N]`` or ``mps``;
* ``batch_size``: a number, or ``auto`` (the largest that fits on an accelerator; 16 on the CPU);
* ``max_length``: the context in tokens (at most the model's own): the rolling scoring window;
* ``name``: the row label in tables.

What changes numbers (``dtype``, ``max_length``) is part of the model's identity, hence of every key; the
batch size, the device and the label are not. The resolved values are recorded with every result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import SpecError
from harness.loaders import LOADERS, LoadedModel, ModelLoader, split_args
from harness.pretrained import MODEL_FILES, check_source, context_length

if TYPE_CHECKING:
    from harness.adapters import PlanevalLM

#: the spellings of ``dtype`` and the torch dtype names they mean
DTYPES = {"auto": "auto", "bf16": "bfloat16", "fp16": "float16", "fp32": "float32"} | {
    name: name for name in ("bfloat16", "float16", "float32")
}
OPTIONS = ("dtype", "device", "batch_size", "max_length", "name")


def _positive(value: str, key: str, source: str, field: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise SpecError(source, field, f"{key}={value!r}: give a positive whole number")
    return int(value)


def parse_options(args: dict[str, str], source: str, field: str) -> dict[str, Any]:
    """Validated options: each key and value checked, one line naming the suite file and field."""
    from harness.devices import DEVICES

    out: dict[str, Any] = {}
    for key, value in args.items():
        if key not in OPTIONS:
            raise SpecError(source, field, f"unknown hf: option {key!r} (valid: {', '.join(OPTIONS)})")
        if key == "dtype":
            if value not in DTYPES:
                raise SpecError(source, field, f"dtype={value!r} (valid: auto, bf16, fp16, fp32)")
            out[key] = DTYPES[value]
        elif key == "device":
            if value not in DEVICES and not (value.startswith("cuda:") and value[5:].isdigit()):
                raise SpecError(source, field, f"device={value!r} (valid: {', '.join(DEVICES)}, cuda:N)")
            out[key] = value
        elif key == "batch_size":
            out[key] = "auto" if value == "auto" else _positive(value, key, source, field)
        elif key == "max_length":
            out[key] = _positive(value, key, source, field)
        elif not value:
            raise SpecError(source, field, "name=: give a label")
        else:
            out[key] = value
    return out


def checkpoint_dtype(folder: Path | None) -> str | None:
    """The dtype a checkpoint's ``config.json`` states (what ``dtype=auto`` loads), if it says."""
    if folder is None or not (folder / "config.json").is_file():
        return None
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    stated = config.get("dtype") or config.get("torch_dtype")
    return stated if stated in DTYPES.values() else None


@LOADERS.register("hf")
class HFLoader(ModelLoader):
    def plan(self, target: str, source: str, field: str) -> LoadedModel:
        from harness.hf_adapter import HFCausalLM, local_identity  # torch only once an hf: model is named

        target, args = split_args(target, source, field)
        if not target:
            raise SpecError(source, field, "'hf:': give a model name or path after 'hf:'")
        options = parse_options(args, source, field)
        folder = check_source(target, source, field, "model", MODEL_FILES)
        path = Path(target).expanduser()
        if path.exists():
            target, identity = str(path.resolve()), local_identity(path)
        else:
            identity = f"hf:{target}"
        context = context_length(folder)
        if "max_length" in options:
            if context is not None and options["max_length"] > context:
                raise SpecError(
                    source,
                    field,
                    f"max_length={options['max_length']} exceeds the model's context of {context}",
                )
            context = options["max_length"]
        # what changes the numbers joins the identity (fp32 and the model's own context are the default,
        # so a plain hf: reference keeps its key); dtype=auto is what the checkpoint states, when it says
        dtype = options.get("dtype", "float32")
        if dtype == "auto":
            dtype = checkpoint_dtype(folder) or "auto"
        numeric = {"dtype": dtype} if dtype != "float32" else {}
        if "max_length" in options:
            numeric["max_length"] = options["max_length"]
        identity += "".join(f",{k}={v}" for k, v in sorted(numeric.items()))
        return LoadedModel(
            target, identity, context, HFCausalLM.capabilities, options=options, label=options.get("name")
        )

    def load(self, model: LoadedModel) -> PlanevalLM:
        from harness.devices import resolve_device
        from harness.hf_adapter import HFCausalLM

        opts = model.options
        lm = HFCausalLM.from_pretrained(
            model.target,
            dtype=opts.get("dtype", "float32"),
            device=resolve_device(opts.get("device", "cpu")),
            batch_size=opts.get("batch_size", 16),
            max_length=opts.get("max_length"),
        )
        lm.identity = model.identity  # the planned one: with the options that change numbers
        return lm
