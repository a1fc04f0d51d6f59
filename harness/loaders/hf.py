"""``hf:<Hub id or local folder>``: any Hugging Face causal LM, evaluated as it is (no training)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import SpecError
from harness.loaders import LOADERS, LoadedModel, ModelLoader
from harness.pretrained import MODEL_FILES, check_source, context_length

if TYPE_CHECKING:
    from harness.adapters import PlanevalLM


@LOADERS.register("hf")
class HFLoader(ModelLoader):
    def plan(self, target: str, source: str, field: str) -> LoadedModel:
        from harness.hf_adapter import HFCausalLM, local_identity  # torch only once an hf: model is named

        if not target:
            raise SpecError(source, field, "'hf:': give a model name or path after 'hf:'")
        folder = check_source(target, source, field, "model", MODEL_FILES)
        path = Path(target).expanduser()
        if path.exists():
            target, identity = str(path.resolve()), local_identity(path)
        else:
            identity = f"hf:{target}"
        return LoadedModel(target, identity, context_length(folder), HFCausalLM.capabilities)

    def load(self, model: LoadedModel) -> PlanevalLM:
        from harness.hf_adapter import HFCausalLM

        return HFCausalLM.from_pretrained(model.target)
