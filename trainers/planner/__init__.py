"""The planner family (Cornille et al. 2024/2025): NAP-pretrained planner + action-conditioned LM."""

from trainers.planner import nap, trainer  # noqa: F401 - registers the "nap" and "planner" trainers
