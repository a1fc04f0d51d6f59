"""Leases: one builder per cache stage across processes and machines sharing a home.

A lease is a small file created atomically with ``O_CREAT | O_EXCL`` (which NFS v3+ and every local
filesystem honour, unlike ``flock`` across machines). It names its owner (host, pid, start time and a
random token); a daemon thread touches its mtime every ``ttl / 4`` seconds as the heartbeat. Another
process judges it stale when its owner is on this host and dead (kill -9 recovery is immediate) or its
heartbeat is older than ``ttl`` (a dead machine, or one cut off). A stale lease is broken by renaming it
to a unique name first: a rename succeeds for one breaker only, so two breakers never both win; the
winner then re-reads what it renamed and puts it back if it was not the stale lease it judged.

Temporary folders carry their owner in their name (``<prefix>-<host>-<pid>-<rand>``), so a cleaner
removes only those whose owner is dead or whose lease expired, never a live process's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("planeval.lease")

#: seconds without a heartbeat after which a lease counts as abandoned (env PLANEVAL_LEASE_TTL)
DEFAULT_TTL = float(os.environ.get("PLANEVAL_LEASE_TTL", "120"))
#: a lease file that is still empty or unparseable this long after its mtime is a creator that died
#: between creating and writing it
UNREADABLE_GRACE = 10.0
POLL_MIN, POLL_MAX = 0.05, 1.0
_HOST = re.compile(r"[A-Za-z0-9_.]*[A-Za-z_.][A-Za-z0-9_.]*")  # hostname() output with a non-digit


def hostname() -> str:
    """This machine's name with only ``[A-Za-z0-9_.]``, so it parses back out of a folder name."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "localhost"


def pid_alive(pid: int) -> bool:
    """Whether a process of this host is alive (a zombie or another user's process counts as alive)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_tag() -> str:
    """``<host>-<pid>-<rand>``: the suffix of a temporary folder's name that says who made it."""
    return f"{hostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def split_owner(name: str) -> tuple[str, str | None, int | None]:
    """(prefix, host, pid) of a ``<prefix>-<host>-<pid>-<rand>`` name; (prefix, None, pid) for the older
    ``<prefix>-<pid>-<rand>``; (name, None, None) when it names no owner."""
    parts = name.rsplit("-", 3)
    # a host name has a non-digit, unlike the older layout's pid or a step number
    if len(parts) == 4 and parts[2].isdigit() and _HOST.fullmatch(parts[1]):
        return parts[0], parts[1], int(parts[2])
    parts = name.rsplit("-", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0], None, int(parts[1])
    return name, None, None


def owner_alive(name: str, mtime: float, ttl: float = DEFAULT_TTL, lease: Path | None = None) -> bool:
    """Whether the owner named in a temporary folder's ``name`` may still be using it: a live process
    of this host, or (another host, or no owner in the name) a live ``lease`` or an mtime within ``ttl``."""
    _, host, pid = split_owner(name)
    if pid is not None and host in (None, hostname()):
        # the older layout has no host: it was only ever written by processes of one machine
        return pid_alive(pid)
    if lease is not None and lease_live(lease, ttl):
        return True
    return time.time() - mtime <= ttl


@dataclass
class LeaseInfo:
    """What a lease file says about its owner, and how fresh its heartbeat is."""

    host: str | None
    pid: int | None
    token: str | None
    started: float | None
    mtime: float

    def stale(self, ttl: float) -> bool:
        age = time.time() - self.mtime
        if self.token is None:  # empty or half-written
            return age > min(ttl, UNREADABLE_GRACE)
        if self.host == hostname() and self.pid is not None and not pid_alive(self.pid):
            return True
        return age > ttl

    def describe(self) -> str:
        return f"{self.host}:{self.pid}" if self.token else "an unknown owner"


def read_lease(path: Path) -> LeaseInfo | None:
    """The lease at ``path``, or None when there is none."""
    try:
        mtime = path.stat().st_mtime
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        data: Any = json.loads(text)
        return LeaseInfo(data["host"], int(data["pid"]), str(data["token"]), float(data["started"]), mtime)
    except (ValueError, KeyError, TypeError):
        return LeaseInfo(None, None, None, None, mtime)


def lease_live(path: Path, ttl: float = DEFAULT_TTL) -> bool:
    """Whether someone holds a fresh lease at ``path``."""
    info = read_lease(path)
    return info is not None and not info.stale(ttl)


def break_stale(path: Path, judged: LeaseInfo) -> bool:
    """Remove the stale lease ``judged`` (read from ``path``); False if another process got there first.

    Rename-then-remove: of several breakers only one rename succeeds. If what was renamed is not the
    lease that was judged (it was broken and taken again in between), it is linked back into place.
    """
    aside = path.with_name(f"{path.name}.broken-{owner_tag()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    got = read_lease(aside)
    if got is not None and got.token != judged.token:
        with contextlib.suppress(OSError):  # put the live lease back (fails if a third took the name)
            os.link(aside, path)
        aside.unlink(missing_ok=True)
        return False
    aside.unlink(missing_ok=True)
    return True


class Lease:
    """An exclusive, heartbeated lease on ``path``; re-entrant within a process (see ``acquire``)."""

    _held: dict[str, tuple[Lease, int]] = {}
    _held_lock = threading.Lock()

    def __init__(self, path: Path, ttl: float = DEFAULT_TTL):
        self.path = Path(path)
        self.ttl = ttl
        self.token = uuid.uuid4().hex
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def try_acquire(self) -> bool:
        """Create the lease file if nobody holds it; never waits."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        body = {"host": hostname(), "pid": os.getpid(), "token": self.token, "started": time.time()}
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(body))
            f.flush()
            os.fsync(f.fileno())
        self._thread = threading.Thread(target=self._beat, name=f"lease {self.path.name}", daemon=True)
        self._thread.start()
        return True

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            info = read_lease(self.path)
            if info is None or info.token != self.token:
                self.lost = True
                log.warning("lease %s was taken over (this process was silent past its TTL)", self.path)
                return
            try:
                os.utime(self.path)
            except OSError:
                self.lost = True
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        info = read_lease(self.path)
        if info is not None and info.token == self.token:
            self.path.unlink(missing_ok=True)

    @classmethod
    @contextmanager
    def acquire(
        cls,
        path: Path,
        *,
        ttl: float = DEFAULT_TTL,
        on_wait: Callable[[str], None] | None = None,
        timeout: float | None = None,
    ) -> Iterator[Lease]:
        """Hold the lease at ``path`` for the block, waiting (sleep-poll, backing off to ``POLL_MAX``)
        while a live owner holds it and breaking it once stale. ``on_wait`` hears one line when waiting
        starts. Re-entrant: a process that holds it already just enters."""
        key = str(Path(path).absolute())
        with cls._held_lock:
            if key in cls._held:
                lease, depth = cls._held[key]
                cls._held[key] = (lease, depth + 1)
                reentered = True
            else:
                reentered = False
        if reentered:
            try:
                yield lease
            finally:
                with cls._held_lock:
                    lease, depth = cls._held[key]
                    if depth == 1:
                        del cls._held[key]
                    else:
                        cls._held[key] = (lease, depth - 1)
            return
        lease = cls(path, ttl)
        delay, said, start = POLL_MIN, False, time.monotonic()
        while not lease.try_acquire():
            info = read_lease(lease.path)
            if info is None:
                continue  # released between our create and our read: try again at once
            if info.stale(ttl):
                if break_stale(lease.path, info):
                    log.warning("broke the stale lease %s of %s", lease.path, info.describe())
                continue
            if not said and on_wait is not None:
                on_wait(f"waiting for {info.describe()}, which is building it")
                said = True
            if timeout is not None and time.monotonic() - start > timeout:
                raise TimeoutError(f"lease {lease.path} still held by {info.describe()} after {timeout}s")
            time.sleep(delay)
            delay = min(delay * 2, POLL_MAX)
        with cls._held_lock:
            cls._held[key] = (lease, 1)
        try:
            yield lease
        finally:
            with cls._held_lock:
                cls._held.pop(key, None)
            lease.release()


def wait_released(path: Path, ttl: float = DEFAULT_TTL, on_wait: Callable[[str], None] | None = None) -> None:
    """Return once nobody holds a live lease at ``path`` (without taking it)."""
    delay, said = POLL_MIN, False
    key = str(Path(path).absolute())
    while key not in Lease._held and (info := read_lease(path)) is not None and not info.stale(ttl):
        if not said and on_wait is not None:
            on_wait(f"waiting for {info.describe()}, which is building it")
            said = True
        time.sleep(delay)
        delay = min(delay * 2, POLL_MAX)
