"""Content-addressed stage artifacts (docs/stages.md), verified on reuse and built once per home.

``<root>/<stage>/<key>/`` holds a finished artifact and its ``manifest.json``; it is built in a
temporary sibling ``.tmp-<key>-<host>-<pid>-<rand>`` and renamed into place only on success, so a kill
never leaves half an artifact. ``<root>/<stage>/<key>.partial/`` keeps resumable state (training
checkpoints) across kills and is removed once the artifact exists.

Integrity: the manifest lists every file's relative path, size and sha256, and carries a digest of
itself. Reusing a stage verifies it first — by default a fast check (the manifest's own digest, every
size, and the digest of every file up to ``FAST_DIGEST_BYTES``, so an edited summary JSON is caught);
``verify(full=True)`` (``planeval cache verify``) digests everything. A stage that fails, or that has
files but no manifest, or whose manifest predates file digests, is moved aside to
``.corrupt-<key>-<time>-<rand>`` with one log line naming the stage and the file, and rebuilt.

Concurrency: building takes the stage's lease (``harness.lease``: an ``O_EXCL`` file with a heartbeat,
valid across machines on a shared filesystem), so one process builds while the others wait and reuse
it; ``exists`` waits for a stage someone is building. Temporary folders are removed only when their
owner is dead or its lease expired.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.hashing import file_digest
from harness.lease import (
    DEFAULT_TTL,
    Lease,
    break_stale,
    lease_live,
    owner_alive,
    owner_tag,
    read_lease,
    split_owner,
    wait_released,
)

MANIFEST = "manifest.json"
#: files up to this size are digested even by the fast check (summaries, configs, small tables)
FAST_DIGEST_BYTES = 1 << 20
LEASE_PREFIX = ".lease-"
CORRUPT_PREFIX = ".corrupt-"
TMP_PREFIX = ".tmp-"
PARTIAL_SUFFIX = ".partial"

_log = logging.getLogger("planeval.cache")


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# -- digests ---------------------------------------------------------------------------------------


def file_entries(root: Path, skip: tuple[str, ...] = (MANIFEST,)) -> dict[str, dict[str, Any]]:
    """``{relative path: {"size", "sha256"}}`` of every file under ``root`` but the top-level ``skip``."""
    out: dict[str, dict[str, Any]] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not p.is_symlink() and rel not in skip:
            out[rel] = {"size": p.stat().st_size, "sha256": file_digest(p)}
    return out


def _self_digest(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def seal(manifest: dict[str, Any], root: Path, skip: tuple[str, ...] = (MANIFEST,)) -> dict[str, Any]:
    """``manifest`` with the file list of ``root`` and its own digest (what ``verify_tree`` checks)."""
    sealed = dict(manifest, files=file_entries(root, skip))
    sealed["manifest_sha256"] = _self_digest(sealed)
    return sealed


def verify_tree(root: Path, full: bool = False, manifest_name: str = MANIFEST) -> str | None:
    """Why the folder ``root`` fails verification (naming the file), or None when it passes."""
    mpath = root / manifest_name
    if not mpath.is_file():
        has_files = any(p.is_file() for p in root.rglob("*")) if root.is_dir() else False
        return f"has files but no {manifest_name}" if has_files else f"is empty (no {manifest_name})"
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"{manifest_name} is unreadable ({type(exc).__name__})"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return f"{manifest_name} has no file digests (written by an older planeval)"
    if manifest.get("manifest_sha256") != _self_digest(manifest):
        return f"{manifest_name} does not match its own digest (edited)"
    for rel, entry in manifest["files"].items():
        p = root / rel
        try:
            size = p.stat().st_size
        except OSError:
            return f"{rel} is missing"
        if size != entry.get("size"):
            return f"{rel} has {size} bytes, the manifest says {entry.get('size')}"
        if (full or size <= FAST_DIGEST_BYTES) and file_digest(p) != entry.get("sha256"):
            return f"{rel} does not match its sha256 (content changed)"
    return None


def tree_bytes(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


# -- the cache -------------------------------------------------------------------------------------


@dataclass
class Built:
    """What ``Cache.build`` hands the stage body: where to write, and a place for manifest fields."""

    dir: Path
    manifest: dict[str, Any]


@dataclass
class Verdict:
    """A stage's state: present at all, and why it fails verification (None: it passes)."""

    present: bool
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.present and self.problem is None


#: an extra check of a stage's content on reuse (e.g. the eval's summary against its per-sample table):
#: the reason it fails, or None
Check = Callable[[Path], str | None]


class Cache:
    """The artifact store under ``root``; ``log`` hears one line per stage moved aside or waited for."""

    def __init__(self, root: Path, log: Callable[[str], None] | None = None, ttl: float = DEFAULT_TTL):
        self.root = Path(root)
        self.log = log or _log.warning
        self.ttl = ttl
        #: stages this process verified (or built) → whether a content ``check`` passed too
        self._verified: dict[tuple[str, str], bool] = {}

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def partial(self, stage: str, key: str) -> Path:
        return self.root / stage / f"{key}{PARTIAL_SUFFIX}"

    def lease_path(self, stage: str, key: str) -> Path:
        return self.root / stage / f"{LEASE_PREFIX}{key}"

    def manifest(self, stage: str, key: str) -> dict[str, Any]:
        return json.loads((self.path(stage, key) / MANIFEST).read_text())

    # -- verification -----------------------------------------------------------------------------
    def inspect(self, stage: str, key: str, *, full: bool = False, check: Check | None = None) -> Verdict:
        """Verify a stage without changing anything (what ``--dry-run`` and ``cache verify`` show)."""
        path = self.path(stage, key)
        if not path.is_dir():
            return Verdict(False, None)
        problem = verify_tree(path, full)
        if problem is None and check is not None:
            try:
                problem = check(path)
            except Exception as exc:  # an unreadable table is a corrupt stage, not a crash
                problem = f"content check failed ({type(exc).__name__}: {exc})"
        return Verdict(True, problem)

    def exists(self, stage: str, key: str, *, check: Check | None = None, wait: bool = True) -> bool:
        """Whether a verified artifact is there to reuse. Waits while another process builds it; a stage
        that fails the fast check is moved aside (one log line) and reported absent, so it is rebuilt."""
        done = self._verified.get((stage, key))
        if done is not None and (done or check is None) and self.path(stage, key).is_dir():
            return True
        if wait:
            wait_released(self.lease_path(stage, key), self.ttl, self._waiting(stage, key))
        verdict = self.inspect(stage, key, check=check)
        if verdict.ok:
            self._verified[(stage, key)] = check is not None
            return True
        if verdict.present:
            with self.lock(stage, key):  # look again under the lease: another process may have rebuilt it
                verdict = self.inspect(stage, key, check=check)
                if verdict.ok:
                    self._verified[(stage, key)] = check is not None
                    return True
                if verdict.present:
                    self.quarantine(stage, key, str(verdict.problem))
        return False

    def quarantine(self, stage: str, key: str, problem: str) -> Path | None:
        """Move a failed stage aside (kept for inspection until ``cache gc``) and say so in one line."""
        self._verified.pop((stage, key), None)
        src = self.path(stage, key)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        aside = src.parent / f"{CORRUPT_PREFIX}{key}-{stamp}-{uuid.uuid4().hex[:6]}"
        try:
            os.rename(src, aside)
        except FileNotFoundError:
            return None  # another process moved it first and said so
        self.log(f"[cache] {stage}/{key}: {problem}; moved aside to {aside.name}, rebuilding")
        return aside

    def _waiting(self, stage: str, key: str) -> Callable[[str], None]:
        return lambda what: self.log(f"[wait] {stage}/{key}: {what}")

    # -- building ---------------------------------------------------------------------------------
    @contextmanager
    def lock(self, stage: str, key: str) -> Iterator[Lease]:
        """Hold the stage's lease: one builder per stage across processes and machines."""
        path = self.lease_path(stage, key)
        with Lease.acquire(path, ttl=self.ttl, on_wait=self._waiting(stage, key)) as lease:
            yield lease

    @contextmanager
    def build(self, stage: str, key: str, manifest: dict[str, Any]) -> Iterator[Built]:
        """Build an artifact in a temporary directory under the stage's lease; publish it atomically with
        its sealed manifest when the block succeeds. Prefer ``ensure``, which also skips the build when
        another process finished it while this one waited."""
        final = self.path(stage, key)
        with self.lock(stage, key):
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.parent / f"{TMP_PREFIX}{key}-{owner_tag()}"
            tmp.mkdir()
            built = Built(tmp, dict(manifest, stage=stage, key=key))
            start = time.perf_counter()
            try:
                yield built
                built.manifest["seconds"] = round(time.perf_counter() - start, 3)
                built.manifest["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                built.manifest["build_id"] = owner_tag()
                sealed = seal(json.loads(json.dumps(built.manifest, default=str)), tmp)
                atomic_write_text(tmp / MANIFEST, json.dumps(sealed, indent=2))
                if final.exists() and self.inspect(stage, key).ok:
                    shutil.rmtree(tmp)  # an identical build published first (a process without leases)
                else:
                    if final.exists():
                        self.quarantine(stage, key, str(self.inspect(stage, key).problem))
                    os.replace(tmp, final)
                self._verified[(stage, key)] = True  # built here: its summary is its own
                shutil.rmtree(self.partial(stage, key), ignore_errors=True)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise

    def claim(self, stage: str, key: str, *, check: Check | None = None) -> ExitStack | None:
        """None when a verified artifact is there (possibly built by another process while this one
        waited); else the stage's lease, held until the returned stack is closed (use it in ``with``,
        right away). The building counterpart of ``exists``: acquire, look again, build, release."""
        if self.exists(stage, key, check=check):
            return None
        stack = ExitStack()
        stack.enter_context(self.lock(stage, key))
        try:
            if self.exists(stage, key, check=check, wait=False):
                stack.close()
                return None
        except BaseException:
            stack.close()
            raise
        return stack

    def ensure(
        self,
        stage: str,
        key: str,
        manifest: dict[str, Any],
        fill: Callable[[Built], None],
        *,
        check: Check | None = None,
    ) -> bool:
        """Make the stage exist exactly once however many processes ask: reuse it if it verifies, else take
        the lease, look again (another process may have built it meanwhile) and only then ``fill`` it.
        Returns whether this call built it."""
        claim = self.claim(stage, key, check=check)
        if claim is None:
            return False
        with claim, self.build(stage, key, manifest) as b:
            fill(b)
        return True

    # -- housekeeping -----------------------------------------------------------------------------
    def stages(self) -> Iterator[tuple[str, str]]:
        """Every published (stage, key) folder, whatever its state."""
        if not self.root.is_dir():
            return
        for stage_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for d in sorted(stage_dir.iterdir()):
                if d.is_dir() and not d.name.startswith(".") and not d.name.endswith(PARTIAL_SUFFIX):
                    yield stage_dir.name, d.name

    def verify(self, full: bool = True, repair: bool = False) -> list[tuple[str, str, str]]:
        """(stage, key, problem) of every stage that fails; with ``repair``, each is moved aside."""
        bad = []
        for stage, key in self.stages():
            verdict = self.inspect(stage, key, full=full)
            if verdict.problem is not None:
                bad.append((stage, key, verdict.problem))
                if repair:
                    self.quarantine(stage, key, verdict.problem)
        return bad

    def _tmp_orphaned(self, stage_dir: Path, tmp: Path) -> bool:
        prefix, _, _ = split_owner(tmp.name)
        key = prefix.removeprefix(TMP_PREFIX)
        try:
            mtime = tmp.stat().st_mtime
        except FileNotFoundError:
            return False
        return not owner_alive(tmp.name, mtime, self.ttl, stage_dir / f"{LEASE_PREFIX}{key}")

    def clean_tmp(self) -> int:
        """Remove temporary build directories whose owner is gone (dead on this host, or its lease expired);
        a live process's, on this machine or another, are left alone."""
        return len(self._clean_tmp())

    def _clean_tmp(self) -> list[tuple[Path, int]]:
        freed: list[tuple[Path, int]] = []
        if not self.root.is_dir():
            return freed
        for stage_dir in self.root.iterdir():
            if not stage_dir.is_dir():
                continue
            for tmp in stage_dir.glob(f"{TMP_PREFIX}*"):
                if self._tmp_orphaned(stage_dir, tmp):
                    size = tree_bytes(tmp)
                    shutil.rmtree(tmp, ignore_errors=True)
                    freed.append((tmp, size))
        return freed

    def gc(self) -> list[tuple[Path, int]]:
        """Remove what nothing needs: quarantined stages, orphaned temporary folders, stale leases, and the
        ``.partial`` checkpoints of stages that are finished. Returns (path, bytes) of each."""
        freed = self._clean_tmp()
        if not self.root.is_dir():
            return freed
        for stage_dir in self.root.iterdir():
            if not stage_dir.is_dir():
                continue
            for p in stage_dir.iterdir():
                if p.name.startswith(CORRUPT_PREFIX) or ".broken-" in p.name:
                    size = tree_bytes(p)
                    shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
                    freed.append((p, size))
                elif p.name.startswith(LEASE_PREFIX):
                    info = read_lease(p)
                    if info is not None and info.stale(self.ttl) and break_stale(p, info):
                        freed.append((p, 0))
                elif p.name.endswith(PARTIAL_SUFFIX):
                    key = p.name.removesuffix(PARTIAL_SUFFIX)
                    live = lease_live(self.lease_path(stage_dir.name, key), self.ttl)
                    if not live and self.inspect(stage_dir.name, key).ok:
                        size = tree_bytes(p)
                        shutil.rmtree(p, ignore_errors=True)
                        freed.append((p, size))
                    elif not live:  # resumable: keep the checkpoints, drop dead writers' half ones
                        for tmp in p.glob(f"{TMP_PREFIX}*"):
                            if not owner_alive(tmp.name, tmp.stat().st_mtime, self.ttl):
                                size = tree_bytes(tmp)
                                shutil.rmtree(tmp, ignore_errors=True)
                                freed.append((tmp, size))
        return freed
