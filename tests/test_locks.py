"""Cross-process locks (PostgreSQL advisory lock, SQLite lease row) and the run ledger."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, text

from digestbot.locks import (
    HOST,
    advisory_key,
    ensure_tables,
    find_run,
    finish_run,
    hold_lock,
    holder_gone,
    job_locks,
    start_run,
    unfinished_runs,
)
from digestbot.store.schema import open_engine, write_transaction


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    store = open_engine(store_url)
    yield store
    store.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: object) -> Iterator[Engine]:
    store = open_engine(f"sqlite:///{tmp_path}/locks.sqlite")
    yield store
    store.dispose()


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return int(child.stdout)


def put_lease(engine: Engine, name: str, owner: str, expires_at: datetime) -> None:
    ensure_tables(engine)
    now = datetime.now(UTC)
    with write_transaction(engine) as conn:
        conn.execute(
            job_locks.insert().values(name=name, owner=owner, acquired_at=now, expires_at=expires_at)
        )


def test_second_holder_is_refused_while_the_first_holds(engine: Engine) -> None:
    """The same name cannot be held twice at once; the second try returns at once with False."""
    with hold_lock(engine, "weekly") as first, hold_lock(engine, "weekly") as second:
        assert (True, False) == (first, second)


def test_lock_is_free_again_after_release(engine: Engine) -> None:
    """Leaving the block releases the lock for the next holder."""
    with hold_lock(engine, "weekly") as first:
        assert first
    with hold_lock(engine, "weekly") as again:
        assert again


def test_different_names_do_not_block_each_other(engine: Engine) -> None:
    """Locks are per name: the weekly digest does not block an ingest job."""
    with hold_lock(engine, "weekly") as a, hold_lock(engine, "ingest_feeds") as b:
        assert (True, True) == (a, b)


def test_only_one_of_many_threads_gets_the_lock(engine: Engine) -> None:
    """Eight workers racing for one name: exactly one holds it (all try while it is held)."""
    start, tried = threading.Barrier(8), threading.Barrier(8)
    results: list[bool] = []

    def worker() -> None:
        start.wait(timeout=10)
        with hold_lock(engine, "race") as held:
            results.append(held)
            tried.wait(timeout=30)  # nobody leaves before everyone has tried

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [True] + [False] * 7 == sorted(results, reverse=True)


def test_sqlite_lease_of_a_dead_process_is_taken_over(sqlite_engine: Engine) -> None:
    """A worker killed while holding the lease does not block the next one until the lease expires."""
    put_lease(sqlite_engine, "weekly", f"{HOST}/{dead_pid()}/abc", datetime.now(UTC) + timedelta(hours=1))
    with hold_lock(sqlite_engine, "weekly") as held:
        assert held


def test_sqlite_live_lease_is_respected(sqlite_engine: Engine) -> None:
    """A lease of a running process (this one) that has not expired keeps others out."""
    put_lease(sqlite_engine, "weekly", f"{HOST}/{os.getpid()}/other", datetime.now(UTC) + timedelta(hours=1))
    with hold_lock(sqlite_engine, "weekly") as held:
        assert not held


def test_sqlite_expired_lease_is_taken_over(sqlite_engine: Engine) -> None:
    """A lease from another host is trusted only until it expires."""
    put_lease(sqlite_engine, "weekly", "elsewhere/1/abc", datetime.now(UTC) + timedelta(minutes=5))
    later = datetime.now(UTC) + timedelta(minutes=6)
    with hold_lock(sqlite_engine, "weekly", now=lambda: later) as held:
        assert held


def test_holder_gone_only_for_missing_local_processes() -> None:
    """Only a pid on this host that no longer exists counts as gone."""
    assert (True, False, False) == (
        holder_gone(f"{HOST}/{dead_pid()}/x"),
        holder_gone(f"{HOST}/{os.getpid()}/x"),
        holder_gone("another-host/1/x"),
    )


def _wait_for_backend_exit(engine: Engine, backend: int, timeout: float = 10.0) -> None:
    """Until PostgreSQL no longer lists the session `backend` (bounded; the lock test's precondition)."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p")
            if not conn.execute(query, {"p": backend}).scalar_one():
                return
            conn.rollback()
            time.sleep(0.02)
    raise AssertionError(f"PostgreSQL session {backend} still open after {timeout} s")


@pytest.mark.postgres
def test_postgres_lock_dies_with_its_connection(postgres_url: str) -> None:
    """A worker killed while holding the advisory lock frees it when its connection ends."""
    store = open_engine(postgres_url)
    other = create_engine(postgres_url)
    try:
        conn = other.connect()
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": advisory_key("weekly")})
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with hold_lock(store, "weekly") as while_held:
            pass
        conn.close()
        other.dispose()  # the "killed worker's" session ends
        _wait_for_backend_exit(store, backend)  # the server ends a closed session asynchronously
        with hold_lock(store, "weekly") as after:
            pass
    finally:
        store.dispose()
    assert (False, True) == (while_held, after)


def test_ledger_records_a_run_from_running_to_done(engine: Engine) -> None:
    """start_run keeps the args; finish_run closes it; only running rows are unfinished."""
    start_run(engine, "weekly:p1", job="weekly_digest", args={"start": "a", "end": "b"})
    running = find_run(engine, "weekly:p1")
    unfinished = [r.key for r in unfinished_runs(engine, "weekly_digest")]
    finish_run(engine, "weekly:p1")
    done = find_run(engine, "weekly:p1")
    assert running is not None and done is not None
    assert ("running", {"start": "a", "end": "b"}, ["weekly:p1"]) == (
        running.status,
        running.args,
        unfinished,
    )
    assert ("done", None, []) == (done.status, done.error, unfinished_runs(engine))


def test_ledger_keeps_the_error_of_a_failed_run(engine: Engine) -> None:
    """A failed run says why and is not unfinished (nobody resumes it blindly)."""
    start_run(engine, "weekly:p2", job="weekly_digest", args={})
    finish_run(engine, "weekly:p2", error="Slack channel #x was not found")
    run = find_run(engine, "weekly:p2")
    assert run is not None
    assert ("failed", "Slack channel #x was not found", []) == (
        run.status,
        run.error,
        unfinished_runs(engine),
    )


def test_restarting_a_run_reopens_its_row(engine: Engine) -> None:
    """A resumed run is `running` again with a fresh owner and no finish time."""
    start_run(engine, "weekly:p3", job="weekly_digest", args={"n": 1})
    finish_run(engine, "weekly:p3", error="boom")
    start_run(engine, "weekly:p3", job="weekly_digest", args={"n": 2})
    run = find_run(engine, "weekly:p3")
    assert run is not None
    assert ("running", None, None, {"n": 2}) == (run.status, run.error, run.finished_at, run.args)
