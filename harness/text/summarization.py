"""The summarisation prompt, one definition for the ``summarization`` task and the trainers that
learn to summarise (``trainers/reward_weighted``), so training and evaluation see the same input."""

from __future__ import annotations

from collections.abc import Callable, Sequence

ARTICLE = "{article}"
DEFAULT_TEMPLATE = "{article}\nTL;DR:"


def summary_prompt(
    article: str,
    encode: Callable[[str], list[int]],
    decode: Callable[[Sequence[int]], str],
    max_source_tokens: int,
    template: str = DEFAULT_TEMPLATE,
) -> str:
    """The prompt for one article: its first ``max_source_tokens`` tokens in the template."""
    ids = encode(article)
    if len(ids) > max_source_tokens:
        article = decode(ids[:max_source_tokens])
    return template.replace(ARTICLE, article.strip())
