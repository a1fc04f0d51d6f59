"""A base causal LM + planner + action conditioning, as one module that saves to and loads from an
artifact folder (``model/`` = the LM's ``save_pretrained``; ``planner.safetensors`` = planner,
conditioner and the original centroids; ``planner.json`` = how to rebuild them)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer

from trainers.planner.modules import ActionConditioner, Planner, conditioned_layers, select


@dataclass
class PlannerSpec:
    """What the artifact needs to rebuild the planner model (saved as ``planner.json``)."""

    encoder: str
    n_actions: int
    d_enc: int
    layers: list[int]
    selection: str = "hard"
    temperature: float = 1.0
    eval_actions: str = "predicted"  # "oracle": actions of the true sentences (the text's own)
    by_line: bool = True
    planner: dict[str, Any] = field(default_factory=dict)  # Planner kwargs (d_model, n_layers, …)


class PlannedLM(nn.Module):
    """Holds the three parts and turns per-sentence plans into per-token mixing weights."""

    def __init__(self, lm: nn.Module, spec: PlannerSpec, centroids: torch.Tensor):
        super().__init__()
        self.lm = lm
        self.spec = spec
        self.register_buffer("centroids", centroids.float(), persistent=False)
        self.planner = Planner(centroids, **spec.planner)
        self.conditioner = ActionConditioner(lm, centroids, spec.layers)

    @classmethod
    def build(
        cls, lm: nn.Module, centroids: torch.Tensor, layers: str | list[int], encoder: str, **kw: Any
    ) -> PlannedLM:
        n_layers = lm.config.get_text_config().num_hidden_layers
        spec = PlannerSpec(
            encoder=encoder,
            n_actions=int(centroids.shape[0]),
            d_enc=int(centroids.shape[1]),
            layers=conditioned_layers(n_layers, layers),
            **kw,
        )
        return cls(lm, spec, centroids)

    # -- plans → weights ----------------------------------------------------------------------------
    def sentence_weights(self, logits: torch.Tensor, selection: str | None = None) -> torch.Tensor:
        return select(logits, selection or self.spec.selection, self.spec.temperature)

    def oracle_weights(self, action_ids: torch.Tensor) -> torch.Tensor:
        """One-hot rows for known action ids, plus a last row repeating the final one (the
        "sentence after the last" is unknown to an oracle; nothing after it is ever scored)."""
        ids = action_ids if len(action_ids) else action_ids.new_zeros(1)
        ids = torch.cat([ids, ids[-1:]])
        return nn.functional.one_hot(ids.long(), self.spec.n_actions).float()

    def forward(self, input_ids: torch.Tensor, weights: torch.Tensor | None, **kw: Any) -> Any:
        """The LM's forward with ``weights`` (B, T, K) conditioning each input position."""
        self.conditioner.weights = weights
        try:
            return self.lm(input_ids=input_ids, **kw)
        finally:
            self.conditioner.weights = None

    # -- persistence ----------------------------------------------------------------------------------
    def save(self, directory: Path, tokenizer: Any) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.lm.save_pretrained(directory / "model", safe_serialization=True)
        tokenizer.save_pretrained(directory / "model")
        tensors = {f"planner.{k}": v.detach().contiguous() for k, v in self.planner.state_dict().items()}
        tensors |= {
            f"conditioner.{k}": v.detach().contiguous() for k, v in self.conditioner.state_dict().items()
        }
        tensors["centroids"] = self.centroids.detach().contiguous()
        save_file(tensors, str(directory / "planner.safetensors"))
        (directory / "planner.json").write_text(json.dumps(asdict(self.spec), indent=2))

    @classmethod
    def load(cls, directory: Path, device: str = "cpu") -> tuple[PlannedLM, Any]:
        spec = PlannerSpec(**json.loads((directory / "planner.json").read_text()))
        lm = AutoModelForCausalLM.from_pretrained(directory / "model", dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(directory / "model")
        tensors = load_file(str(directory / "planner.safetensors"))
        model = cls(lm, spec, tensors["centroids"])
        model.planner.load_state_dict(_strip(tensors, "planner."))
        model.conditioner.load_state_dict(_strip(tensors, "conditioner."))
        return model.to(device).eval(), tokenizer


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
