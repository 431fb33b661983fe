"""Cross-process locks, so two workers never run (and post) the same job at once, and a run ledger.

`hold_lock(engine, name)` is a lock shared by every process on the same store (non-blocking, or
waiting up to `wait`); `lock_holder` names who has it (host/pid and since when):

* PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on a dedicated connection. The server
  releases it when that connection ends, so a killed worker never leaves it behind. The holder is
  also written to `job_locks` (information only: the advisory lock decides).
* SQLite: a lease row in `job_locks`, renewed by a heartbeat thread while held. A lease is taken
  over when it expired or when its holder, a process on this host, is gone.

The ledger (`job_runs`) records each run of a job for one key (e.g. the weekly digest's period) as
`running`, then `done` or `failed`. Read it only while holding the key's lock: a `running` row you
can lock belongs to a worker that died, so the run is resumed; a `done` row is never repeated.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Column, Engine, MetaData, String, Table, Text, delete, select, text, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import SQLAlchemyError

from digestbot.store.schema import Json, UtcDateTime, upsert_statement, write_transaction

RunStatus = Literal["running", "done", "failed"]
Now = Callable[[], datetime]

DEFAULT_LEASE = timedelta(seconds=90)  # SQLite: a holder that stops renewing loses the lock after this
HOST = socket.gethostname()

lock_metadata = MetaData()

job_locks = Table(
    "job_locks",
    lock_metadata,
    Column("name", String(300), primary_key=True),
    Column("owner", String(200), nullable=False),  # host/pid/uuid of the holder
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

job_runs = Table(
    "job_runs",
    lock_metadata,
    Column("key", String(300), primary_key=True),  # e.g. "weekly_digest:#llm-digest:2026-11-16..2026-11-22"
    Column("job", String(60), nullable=False),
    Column("status", String(16), nullable=False),  # running | done | failed
    Column("args", Json, nullable=False),  # what a resumed run needs (the window)
    Column("owner", String(200), nullable=False),
    Column("error", Text),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def ensure_tables(engine: Engine) -> None:
    """Create `job_locks` and `job_runs` if missing (idempotent, safe to call concurrently)."""
    with write_transaction(engine) as conn:
        lock_metadata.create_all(conn, checkfirst=True)


def new_owner() -> str:
    """A holder id unique to one acquisition: `host/pid/uuid`."""
    return f"{HOST}/{os.getpid()}/{uuid.uuid4().hex[:12]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_gone(owner: str) -> bool:
    """True when `owner` was a process on this host that no longer exists."""
    host, _, rest = owner.partition("/")
    pid = rest.partition("/")[0]
    return host == HOST and pid.isdigit() and not _pid_alive(int(pid))


@contextmanager
def hold_lock(
    engine: Engine,
    name: str,
    *,
    lease: timedelta = DEFAULT_LEASE,
    now: Now = utc_now,
    wait: timedelta = timedelta(0),
    poll: float = 0.2,
) -> Iterator[bool]:
    """Take `name` across processes, trying again for up to `wait`; yields True while held, False
    when another worker still has it after that."""
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        with _try_lock(engine, name, lease, now) as held:
            if held or time.monotonic() >= deadline:
                yield held
                return
        time.sleep(poll)


@contextmanager
def _try_lock(engine: Engine, name: str, lease: timedelta, now: Now) -> Iterator[bool]:
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, name, now) as held:
            yield held
    else:
        with _lease_lock(engine, name, lease, now) as held:
            yield held


@dataclass(frozen=True)
class Holder:
    owner: str  # host/pid/uuid
    since: datetime

    def describe(self) -> str:
        """`pid 4242 on host-a since 2026-11-23 09:00:01 UTC` (for a one-line message)."""
        host, _, rest = self.owner.partition("/")
        pid = rest.partition("/")[0]
        return f"pid {pid} on {host} since {self.since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def lock_holder(engine: Engine, name: str) -> Holder | None:
    """Who holds (or last held) `name`, as recorded in `job_locks`; None when unknown."""
    ensure_tables(engine)
    with engine.connect() as conn:
        row = conn.execute(select(job_locks).where(job_locks.c.name == name)).mappings().first()
    return Holder(row["owner"], row["acquired_at"]) if row is not None else None


def advisory_key(name: str) -> int:
    """A signed 64-bit key for `pg_try_advisory_lock`, derived from the lock name."""
    digest = hashlib.sha256(f"digestbot-lock:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def _advisory_lock(engine: Engine, name: str, now: Now) -> Iterator[bool]:
    key = {"key": advisory_key(name)}
    conn = engine.connect()
    try:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar())
        conn.commit()
        if not held:
            yield False
            return
        owner = new_owner()
        _record_holder(engine, name, owner, now())
        try:
            yield True
        finally:
            try:
                with write_transaction(engine) as info:
                    where = (job_locks.c.name == name) & (job_locks.c.owner == owner)
                    info.execute(delete(job_locks).where(where))
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                conn.commit()
            except SQLAlchemyError:  # the session is gone, and the server released the lock with it
                conn.invalidate()
    finally:
        conn.close()


def _record_holder(engine: Engine, name: str, owner: str, moment: datetime) -> None:
    ensure_tables(engine)
    values = {"owner": owner, "acquired_at": moment, "expires_at": moment}
    with write_transaction(engine) as conn:
        statement = upsert_statement(conn, job_locks).values(name=name, **values)
        conn.execute(statement.on_conflict_do_update(index_elements=["name"], set_=values))


@contextmanager
def _lease_lock(engine: Engine, name: str, lease: timedelta, now: Now) -> Iterator[bool]:
    ensure_tables(engine)
    owner = new_owner()
    if not _take_lease(engine, name, owner, lease, now):
        yield False
        return
    stop = threading.Event()
    where = (job_locks.c.name == name) & (job_locks.c.owner == owner)

    def renew() -> None:
        while not stop.wait(lease.total_seconds() / 3):
            with write_transaction(engine) as conn:
                conn.execute(update(job_locks).where(where).values(expires_at=now() + lease))

    beat = threading.Thread(target=renew, name=f"lease:{name}", daemon=True)
    beat.start()
    try:
        yield True
    finally:
        stop.set()
        beat.join(timeout=5)
        with write_transaction(engine) as conn:
            conn.execute(delete(job_locks).where(where))


def _take_lease(engine: Engine, name: str, owner: str, lease: timedelta, now: Now) -> bool:
    moment = now()
    with write_transaction(engine) as conn:
        row = conn.execute(select(job_locks).where(job_locks.c.name == name)).mappings().first()
        if row is not None and row["expires_at"] > moment and not holder_gone(row["owner"]):
            return False
        values = {"owner": owner, "acquired_at": moment, "expires_at": moment + lease}
        statement = upsert_statement(conn, job_locks).values(name=name, **values)
        conn.execute(statement.on_conflict_do_update(index_elements=["name"], set_=values))
    return True


# --- the run ledger ----------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRun:
    key: str
    job: str
    status: RunStatus
    args: dict[str, Any]
    owner: str
    error: str | None
    started_at: datetime
    finished_at: datetime | None


def _run(row: RowMapping) -> JobRun:
    return JobRun(
        key=row["key"],
        job=row["job"],
        status=row["status"],
        args=dict(row["args"] or {}),
        owner=row["owner"],
        error=row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def find_run(engine: Engine, key: str) -> JobRun | None:
    ensure_tables(engine)
    with engine.connect() as conn:
        row = conn.execute(select(job_runs).where(job_runs.c.key == key)).mappings().first()
    return _run(row) if row is not None else None


def start_run(engine: Engine, key: str, *, job: str, args: Mapping[str, Any], now: Now = utc_now) -> None:
    """Mark `key` running (again, when resuming). Call it while holding the key's lock."""
    ensure_tables(engine)
    values = {"job": job, "status": "running", "args": dict(args), "owner": new_owner(), "error": None}
    with write_transaction(engine) as conn:
        statement = upsert_statement(conn, job_runs).values(key=key, started_at=now(), **values)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["key"], set_={**values, "started_at": now(), "finished_at": None}
            )
        )


def finish_run(engine: Engine, key: str, *, error: str | None = None, now: Now = utc_now) -> None:
    """Close the run: `done`, or `failed` with the one-line error."""
    status: RunStatus = "failed" if error else "done"
    with write_transaction(engine) as conn:
        _set(conn, key, status=status, error=error, finished_at=now())


def _set(conn: Connection, key: str, **values: Any) -> None:
    conn.execute(update(job_runs).where(job_runs.c.key == key).values(**values))


def unfinished_runs(engine: Engine, job: str | None = None) -> list[JobRun]:
    """Rows still `running`, oldest first (a live worker's, or a dead one's: lock each to tell)."""
    ensure_tables(engine)
    query = select(job_runs).where(job_runs.c.status == "running").order_by(job_runs.c.started_at)
    if job is not None:
        query = query.where(job_runs.c.job == job)
    with engine.connect() as conn:
        return [_run(row) for row in conn.execute(query).mappings()]
