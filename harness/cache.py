"""Content-addressed stage artifacts (DESIGN §1).

``<root>/<stage>/<key>/`` holds a finished artifact and its ``manifest.json``; it is built in a
temporary sibling and renamed into place only on success, so a kill never leaves half an artifact.
``<root>/<stage>/<key>.partial/`` keeps resumable state (training checkpoints) across kills and is
removed once the artifact exists.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class Built:
    """What ``Cache.build`` hands the stage body: where to write, and a place for manifest fields."""

    dir: Path
    manifest: dict[str, Any]


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def partial(self, stage: str, key: str) -> Path:
        return self.root / stage / f"{key}.partial"

    def exists(self, stage: str, key: str) -> bool:
        return (self.path(stage, key) / "manifest.json").is_file()

    def manifest(self, stage: str, key: str) -> dict[str, Any]:
        return json.loads((self.path(stage, key) / "manifest.json").read_text())

    @contextmanager
    def build(self, stage: str, key: str, manifest: dict[str, Any]) -> Iterator[Built]:
        """Build an artifact in a temporary directory; publish it atomically when the block succeeds."""
        final = self.path(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".tmp-{key}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        tmp.mkdir()
        built = Built(tmp, dict(manifest, stage=stage, key=key))
        start = time.perf_counter()
        try:
            yield built
            built.manifest["seconds"] = round(time.perf_counter() - start, 3)
            built.manifest["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            atomic_write_text(tmp / "manifest.json", json.dumps(built.manifest, indent=2, default=str))
            if final.exists():  # a concurrent or earlier identical build won: keep it
                shutil.rmtree(tmp)
            else:
                os.replace(tmp, final)
            shutil.rmtree(self.partial(stage, key), ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def clean_tmp(self) -> int:
        """Remove temporary build directories left by killed processes (their owners are gone)."""
        n = 0
        if not self.root.exists():
            return 0
        for stage_dir in self.root.iterdir():
            if not stage_dir.is_dir():
                continue
            for tmp in stage_dir.glob(".tmp-*"):
                pid = tmp.name.split("-")[2] if tmp.name.count("-") >= 3 else ""
                if pid.isdigit() and _alive(int(pid)):
                    continue
                shutil.rmtree(tmp, ignore_errors=True)
                n += 1
        return n


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
