"""Symbolic equivalence with math-verify, under a time limit that works from any thread.

math-verify's own limits (``parse(parsing_timeout=)``, ``verify(timeout_seconds=)``) use
``signal.alarm``, which works only on a process's main thread, and sympy can hang inside C code where
no signal gets through. So the checks run in worker processes (``harness.text.answers.verify_worker``, plain
subprocesses: no fork of a parent that holds torch threads, no re-import of the caller's ``__main__``
as multiprocessing's spawn does), where math-verify's alarms work; the parent gives every batch a
wall-clock deadline, kills a worker that overruns it, re-checks that batch pair by pair, and counts a
pair that overruns again as not equivalent (``None`` in the results). Workers start on first use and
are shared by every caller of ``shared_checker``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import selectors
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

Pair = tuple[str, str]  # (gold, prediction)

_STARTUP_S = 120.0  # a fresh interpreter importing sympy: ~1 s, much more on a loaded machine
_GRACE_S = 2.0  # IPC allowance on top of the per-pair limits
_ROOT = Path(__file__).resolve().parents[3]  # the folder holding the ``harness`` package


class WorkerError(RuntimeError):
    """A verify worker could not be started."""


#: how a worker is started (tests point it at a worker that hangs)
WORKER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "harness.text.answers.verify_worker")


class _Worker:
    def __init__(self, command: Sequence[str]) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.ready = False

    def wait_ready(self, deadline: float) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                self.kill()
                raise WorkerError(f"math-verify worker did not start within {_STARTUP_S:.0f}s")
        line = self.stdout.readline()
        if json.loads(line or "null") != "ready":
            self.kill()
            raise WorkerError("math-verify worker failed to start (is math-verify installed?)")
        self.ready = True

    def send(self, pairs: list[Pair], timeout_s: int) -> None:
        self.stdin.write(json.dumps({"pairs": pairs, "timeout": timeout_s}) + "\n")
        self.stdin.flush()

    def receive(self) -> list[bool] | None:
        line = self.stdout.readline()
        return json.loads(line) if line else None  # None: the worker died

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                f.close()


class SymbolicChecker:
    """``workers`` math-verify processes; ``check`` spreads batches of pairs over them."""

    def __init__(
        self,
        timeout_s: float = 5.0,
        workers: int = 1,
        batch: int = 8,
        command: Sequence[str] = WORKER_COMMAND,
    ):
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.timeout_s = max(1, math.ceil(timeout_s))  # signal.alarm counts whole seconds
        self.n_workers = max(1, workers)
        self.batch = max(1, batch)
        self.command = tuple(command)
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self.n_killed = 0  # workers killed for overrunning a deadline

    def _deadline(self, n_pairs: int) -> float:
        return time.monotonic() + n_pairs * 3 * self.timeout_s + _GRACE_S  # 2 parses + 1 comparison

    def _start(self) -> None:
        for dead in [w for w in self._workers if w.proc.poll() is not None]:  # killed from outside
            dead.kill()
            self._workers.remove(dead)
        fresh = [_Worker(self.command) for _ in range(self.n_workers - len(self._workers))]
        deadline = time.monotonic() + _STARTUP_S
        for w in fresh:
            w.wait_ready(deadline)
        self._workers.extend(fresh)

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        self._workers.remove(worker)
        fresh = _Worker(self.command)
        fresh.wait_ready(time.monotonic() + _STARTUP_S)
        self._workers.append(fresh)
        return fresh

    def check(self, pairs: Sequence[Pair]) -> list[bool | None]:
        """Equivalence of each ``(gold, prediction)``: ``True``/``False``, or ``None`` when a pair
        overran its deadline (callers count that as not equivalent). Thread-safe."""
        results: list[bool | None] = [None] * len(pairs)
        if not pairs:
            return results
        with self._lock:
            self._start()
            idx = list(range(len(pairs)))
            todo: deque[list[int]] = deque(idx[i : i + self.batch] for i in range(0, len(idx), self.batch))
            busy: dict[_Worker, tuple[list[int], float]] = {}
            with selectors.DefaultSelector() as sel:
                while todo or busy:
                    for w in [w for w in self._workers if w not in busy]:
                        if not todo:
                            break
                        job = todo.popleft()
                        try:
                            w.send([list(pairs[i]) for i in job], self.timeout_s)
                        except OSError:  # died since its last answer: replace it, the job waits
                            self._replace(w)
                            todo.appendleft(job)
                            break
                        busy[w] = (job, self._deadline(len(job)))
                        sel.register(w.stdout, selectors.EVENT_READ, w)
                    if not busy:
                        continue
                    wait = min(d for _, d in busy.values()) - time.monotonic()
                    for key, _ in sel.select(timeout=max(0.0, wait)):
                        w = key.data
                        job, _ = busy.pop(w)
                        sel.unregister(w.stdout)
                        answer = w.receive()
                        if answer is None:  # crashed: treat like an overrun
                            self._overrun(w, job, todo)
                            continue
                        for i, ok in zip(job, answer, strict=True):
                            results[i] = bool(ok)
                    now = time.monotonic()
                    for w, (job, deadline) in list(busy.items()):
                        if now > deadline:
                            busy.pop(w)
                            sel.unregister(w.stdout)
                            self._overrun(w, job, todo)
        return results

    def _overrun(self, worker: _Worker, job: list[int], todo: deque[list[int]]) -> None:
        """Kill and replace the worker; a batch goes back pair by pair, a single pair stays ``None``."""
        self.n_killed += 1
        self._replace(worker)
        if len(job) > 1:
            todo.extendleft([i] for i in reversed(job))

    def close(self) -> None:
        with self._lock:
            for w in self._workers:
                w.kill()
            self._workers.clear()


_SHARED: dict[tuple[int, int], SymbolicChecker] = {}
_SHARED_LOCK = threading.Lock()


def shared_checker(timeout_s: float = 5.0, workers: int = 1) -> SymbolicChecker:
    """One checker per (time limit, workers), started on first use and closed at exit, so repeated
    evaluations do not pay the worker start-up (~1 s: a fresh interpreter importing sympy) each time."""
    key = (max(1, math.ceil(timeout_s)), max(1, workers))
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = SymbolicChecker(*key)
        return _SHARED[key]


@atexit.register
def _close_shared() -> None:
    for checker in _SHARED.values():
        checker.close()
