"""Imported once by the ``local-parallel`` fork server: the runner and every registered task, trainer,
variant and suite loaded, so the workers forked from it plan a suite without importing anything."""

from __future__ import annotations

import harness.runner  # noqa: F401 - the point is the import
from harness.catalog import SUITES, VARIANTS
from harness.stages import DERIVED
from tasks.base import TASKS
from trainers.base import TRAINERS

for registry in (TASKS, TRAINERS, DERIVED, VARIANTS, SUITES):
    registry.load()
