"""The token reward model r(s_t, a_t) in (0, 1]: an LM body + an MLP head (d → hidden → 1), bounded.

One forward pass over ``[context, a_0, …, a_{T-1}]`` gives a reward at every position: the hidden state
at token a_t has read the state s_t (context and a_<t) and the action a_t itself, so the head's output
there is r(s_t, a_t). The body is a copy of the starting policy's transformer by default (the paper
initialises the reward model from the same pretrained LM), a GPT-2 preset trained from scratch, or any
HF model whose vocabulary covers the tokenizer's.

Bounds: ``sigmoid`` maps the head's output z to (0, 1) and lifts it by ``min_reward`` so float32 never
rounds it to 0; ``softplus`` is the paper's doubly soft-clipped form (soft upper bound 1, then soft
lower bound ``min_reward``), divided by its supremum so that the range is (0, 1] exactly — it is
linear in z over most of the range, where the sigmoid saturates.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, GPT2Config, GPT2Model

from trainers.lm import prefix_id
from trainers.weights import PRESETS, Weights

Bound = Literal["sigmoid", "softplus"]
MIN_REWARD = 1e-6


def bound_rewards(z: torch.Tensor, how: str, min_reward: float = MIN_REWARD) -> torch.Tensor:
    """Map unbounded head outputs into (0, 1]."""
    z = z.float()
    if how == "sigmoid":
        r = min_reward + (1.0 - min_reward) * torch.sigmoid(z)
    elif how == "softplus":
        upper = 1.0 - F.softplus(1.0 - z)  # ≤ 1, ≈ z well below 1
        r = min_reward + F.softplus(upper - min_reward)  # > min_reward, ≈ upper well above it
        r = r / (min_reward + math.log1p(math.exp(1.0 - min_reward)))  # the supremum of the line above
    else:
        raise ValueError(f"unknown reward bound {how!r} (valid: sigmoid, softplus)")
    return r.nan_to_num(nan=min_reward).clamp(min=min_reward, max=1.0)


class TokenRewardModel(nn.Module):
    """LM body + MLP head; ``forward`` returns a reward in (0, 1] for every position."""

    def __init__(self, body: nn.Module, hidden: int = 2048, bound: Bound = "sigmoid") -> None:
        super().__init__()
        self.body = body
        width = int(body.config.hidden_size)
        self.head = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        nn.init.normal_(self.head[0].weight, std=0.02)
        nn.init.zeros_(self.head[0].bias)
        nn.init.normal_(self.head[2].weight, std=0.02)  # small: every reward starts near the middle
        nn.init.zeros_(self.head[2].bias)
        self.bound = bound
        self.hidden = hidden

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        return bound_rewards(self.head(states.last_hidden_state).squeeze(-1), self.bound)

    # -- persistence ------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """The body with ``save_pretrained`` (safetensors), the head as safetensors, and the settings."""
        directory = Path(directory)
        self.body.save_pretrained(directory / "body", safe_serialization=True)
        save_file(
            {k: v.contiguous() for k, v in self.head.state_dict().items()},
            str(directory / "head.safetensors"),
        )
        (directory / "reward_model.json").write_text(json.dumps({"hidden": self.hidden, "bound": self.bound}))

    @classmethod
    def load(cls, directory: Path) -> TokenRewardModel:
        directory = Path(directory)
        meta = json.loads((directory / "reward_model.json").read_text())
        model = cls(AutoModel.from_pretrained(directory / "body"), meta["hidden"], meta["bound"])
        model.head.load_state_dict(load_file(str(directory / "head.safetensors")))
        return model


def build_body(weights: Weights | None, policy: nn.Module, tokenizer: Any) -> nn.Module:
    """The reward model's LM body: a copy of the policy's transformer (``None``, i.e. the starting LM),
    a GPT-2 ``preset:`` from config, or ``hf:<name or path>`` (its vocabulary must cover the
    tokenizer's, since the reward model reads the policy's token ids)."""
    if weights is None:
        return copy.deepcopy(policy.base_model)
    if weights.kind == "hf":
        body = AutoModel.from_pretrained(weights.source(), dtype=torch.float32)
        vocab = int(body.get_input_embeddings().num_embeddings)
        if vocab < len(tokenizer):
            raise ValueError(
                f"reward body {weights}: vocabulary of {vocab} < the tokenizer's {len(tokenizer)} tokens"
            )
        return body
    if weights.kind != "preset":
        raise ValueError(f"reward body {weights}: give preset:<name> or hf:<name or path>")
    eos = tokenizer.eos_token_id
    config = GPT2Config(
        vocab_size=len(tokenizer),
        bos_token_id=prefix_id(tokenizer),
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos,
        activation_function="gelu_pytorch_tanh",
        n_positions=int(getattr(policy.config, "n_positions", 1024)),
        **{k: v for k, v in PRESETS[weights.name].items() if k != "n_positions"},
    )
    return GPT2Model(config)
