"""How a long document is cut into model-sized windows for scoring (docs/tasks/perplexity.md).

``ids`` is a document's token ids preceded by one prefix (BOS/EOS) token that is never scored, so
every document token is scored exactly once in both modes. (Encoded as lm-eval does, a Llama-style
tokenizer's own BOS follows the prefix and is a document token: lm-eval scores it too.)
A ``Window(start, end, n_score)`` scores ``ids[end - n_score:end]``; the model's input is
``ids[start:end - 1]`` (each scored token conditioned on everything before it inside the window).
"""

from __future__ import annotations

from typing import NamedTuple


class Window(NamedTuple):
    start: int
    end: int
    n_score: int

    @property
    def input_len(self) -> int:
        return self.end - 1 - self.start


def rolling_windows(n_ids: int, max_len: int) -> list[Window]:
    """Disjoint windows exactly as lm-eval's ``loglikelihood_rolling`` (context_len=1): inputs of at
    most ``max_len`` tokens; the last window is back-filled with earlier tokens for a full context."""
    if max_len < 1:
        raise ValueError("max_len must be >= 1")
    n_pred = n_ids - 1
    windows: list[Window] = []
    done = 0  # ids[1:done + 1] are scored
    while done < n_pred:
        n = min(max_len, n_pred - done)
        end = done + n + 1
        windows.append(Window(max(0, end - 1 - max_len), end, n))
        done += n
    return windows


def paper_windows(n_ids: int, context: int = 127) -> list[Window]:
    """Stride-1 windows (paper A, window 128): every token is scored with exactly the previous
    ``min(context, position)`` tokens. The first window scores all tokens that fit with their whole
    history; each later token gets its own window."""
    if context < 1:
        raise ValueError("context must be >= 1")
    n_pred = n_ids - 1
    if n_pred <= 0:
        return []
    first = min(n_pred, context)
    windows = [Window(0, first + 1, first)]
    windows += [Window(t - context, t + 1, 1) for t in range(first + 1, n_ids)]
    return windows


WINDOWERS = {"rolling": rolling_windows, "paper": paper_windows}
