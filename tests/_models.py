"""Micro models and tokenizers built locally for tests: nothing here touches the Hugging Face Hub.

A byte-level BPE is trained on a small deterministic text sample and wrapped as ``GPT2TokenizerFast``
with ``<|endoftext|>`` as bos/eos/pad; the micro GPT-2 (2 layers, d=32) is built from its config.
"""

from __future__ import annotations

import random
from functools import lru_cache

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

EOS = "<|endoftext|>"

_WORD_TEXT = (
    "the a plan model writes each sentence then next action river stone city walks reads "
    "quickly slowly because while after before small large green blue old new goal step "
    "first second finally therefore however story about one two three many people time"
)
_WORDS = _WORD_TEXT.split()


def sample_texts(n: int, seed: int = 0, sentences: tuple[int, int] = (2, 6)) -> list[str]:
    """Deterministic pseudo-English documents of a few sentences each."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        sents = []
        for _ in range(rng.randint(*sentences)):
            words = [rng.choice(_WORDS) for _ in range(rng.randint(4, 12))]
            sents.append(" ".join(words).capitalize() + rng.choice([".", ".", "!", "?"]))
        docs.append(" ".join(sents))
    return docs


@lru_cache(maxsize=4)
def _bpe(vocab_size: int) -> str:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(sample_texts(300, seed=123), trainer=trainer)
    return tok.to_str()


def tiny_tokenizer(vocab_size: int = 400) -> GPT2TokenizerFast:
    """A byte-level BPE wrapped the way transformers 5 saves readable configs (docs/environment.md)."""
    tok = Tokenizer.from_str(_bpe(vocab_size))
    return GPT2TokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=EOS, unk_token=EOS)


def micro_model(
    vocab_size: int, n_positions: int = 64, seed: int = 0, n_layer: int = 2, n_embd: int = 32
) -> GPT2LMHeadModel:
    """A 2-layer, d=32 GPT-2 with random (seeded) weights, in eval mode."""
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        initializer_range=0.25,  # the default 0.02 predicts near-uniformly; tests need contexts to matter
    )
    return GPT2LMHeadModel(config).eval()
