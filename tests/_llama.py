"""A Llama-style micro model whose tokenizer prepends BOS itself, built offline for the lm-eval checks.

The byte-level BPE of ``_models`` gets ``<s>``/``</s>`` and a ``TemplateProcessing`` post-processor
``<s> $A`` — what a Llama tokenizer does by default — so ``tokenizer(text)`` starts with BOS while
``tokenizer(text, add_special_tokens=False)`` does not: the case where lm-eval's encoding and a plain one
differ by one scored token.
"""

from __future__ import annotations

from pathlib import Path

import torch
from _models import _bpe
from tokenizers import Tokenizer, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast


def bos_tokenizer(vocab_size: int = 400) -> PreTrainedTokenizerFast:
    tok = Tokenizer.from_str(_bpe(vocab_size))
    tok.add_special_tokens(["<s>", "</s>"])
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
            ),
        ]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="</s>")


def save_bos_model(path: Path, n_positions: int = 48, seed: int = 0) -> Path:
    """A 2-layer, d=32 Llama with random (seeded) weights and the BOS-adding tokenizer, saved as a folder."""
    tok = bos_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=n_positions,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        initializer_range=0.25,  # contexts must matter for the windows to be tested
    )
    LlamaForCausalLM(config).eval().save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path
