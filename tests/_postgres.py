"""A throwaway PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` (Debian's ``postgresql``
package) on 127.0.0.1 and a free port, in a temporary folder, stopped and removed afterwards.

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` user the package
creates (else ``nobody``). Where it cannot start — no binaries, no unprivileged user, a failed start —
``start`` raises ``Unavailable`` with the reason, and the tests skip with it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "planeval"


class Unavailable(RuntimeError):
    """Why no server could be started here."""


def _binaries() -> Path:
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for d in candidates:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    raise Unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged user to run the server as (None: this process is not root, run as itself)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise Unavailable("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


@dataclass
class Server:
    bin: Path
    root: Path
    port: int
    user: pwd.struct_passwd | None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database's URL (each test gets its own)."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres") as conn:
            conn.autocommit = True
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self.user.pw_uid if self.user else None,
            group=self.user.pw_gid if self.user else None,
            check=False,
        )

    def stop(self) -> None:
        self._ctl("stop", "-m", "immediate", "-w", timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no output"


def start() -> Server:
    """Initialise and start a server, or raise ``Unavailable`` saying why not."""
    binaries = _binaries()
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="planeval-pg-"))
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    as_user = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    data = str(root / "data")
    args = ["-D", data, "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C"]
    init = subprocess.run(
        [str(binaries / "initdb"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **as_user,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(f"initdb failed: {_last_line(init.stderr or init.stdout)}")
    last = ""
    for _ in range(3):  # another process may take the free port between choosing and binding it
        server = Server(binaries, root, _free_port(), user)
        options = f"-h 127.0.0.1 -p {server.port} -k {root} -c fsync=off -c synchronous_commit=off"
        done = server._ctl("start", "-w", "-t", "60", "-l", str(root / "log"), "-o", options, timeout=90)
        if done.returncode == 0:
            return server
        log = root / "log"
        last = _last_line(log.read_text(errors="replace") if log.exists() else done.stderr)
    shutil.rmtree(root, ignore_errors=True)
    raise Unavailable(f"pg_ctl start failed: {last}")
