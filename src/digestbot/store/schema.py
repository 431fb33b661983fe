"""Tables, the engine factory, and idempotent migrations (SQLite by default, PostgreSQL via psycopg 3).

Every store object opens its engine through `open_engine(url)`, which creates or migrates the schema.
Migrations run inside one write transaction that holds the database's writer lock (SQLite:
`BEGIN IMMEDIATE`; PostgreSQL: an advisory transaction lock), so two processes opening the same
store at once do not race.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from digestbot.config_schema import store_url_problem
from digestbot.redaction import Scrubber, url_password
from digestbot.settings import redact_url


class StoreError(Exception):
    """The store cannot be opened or written (database unreachable, locked, broken schema)."""


class StoreConfigError(StoreError):
    """The store URL itself is unusable (unknown scheme, missing driver)."""


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC; always read back as aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"refusing to store a naive datetime: {value!r}")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Json = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", UtcDateTime, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("source", String(20), nullable=False),
    Column("url", Text, nullable=False),
    Column("url_key", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("norm_title", Text, nullable=False),
    # The normalized title, on the first stored item of each (source, title) only, when it is long
    # enough to match across sources (rows.title_key); NULL otherwise. The title dedupe looks it up,
    # so it reads at most one row per source, however many items share the title.
    Column("title_key", Text),
    Column("published", UtcDateTime, nullable=False),
    Column("updated", UtcDateTime, nullable=False),
    Column("version", Integer),
    Column("language", String(16), nullable=False),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("data", Json, nullable=False),  # text, authors, tags, popularity, ... (see store/rows.py)
    Index("ix_items_published", "published"),
    Index("ix_items_source_published", "source", "published"),
    Index("ix_items_url_key", "url_key"),
    Index("ix_items_norm_title", "norm_title"),
    Index("ix_items_title_key", "title_key", "source"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("alias_id", String(200), primary_key=True),
    Column("canonical_id", String(200), ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("reason", String(20), nullable=False),  # "url" or "title"
    Column("created", UtcDateTime, nullable=False),
)

fetch_runs = Table(
    "fetch_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(20), nullable=False),
    Column("window_start", UtcDateTime, nullable=False),
    Column("window_end", UtcDateTime, nullable=False),
    Column("fetched", Integer, nullable=False),
    Column("new", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("warnings", Json, nullable=False),
    Column("errors", Json, nullable=False),
    Column("failure", Text),
    Column("started", UtcDateTime, nullable=False),
    Column("finished", UtcDateTime, nullable=False),
    Index("ix_fetch_runs_started", "started"),
)

result_cache = Table(
    "result_cache",
    metadata,
    Column("key", String(500), primary_key=True),
    Column("value", Json, nullable=False),
    Column("stored_at", UtcDateTime, nullable=False),
)

http_validators = Table(
    "http_validators",
    metadata,
    Column("url", Text, primary_key=True),
    Column("etag", Text),
    Column("modified", Text),
    Column("stored_at", UtcDateTime, nullable=False),
)

# The body those validators belong to: a 304 means "use your copy", so the copy is kept with them.
http_bodies = Table(
    "http_bodies",
    metadata,
    Column("url", Text, primary_key=True),
    Column("content", LargeBinary, nullable=False),
    Column("headers", Json, nullable=False),  # the response headers the parser reads (content-type…)
    Column("stored_at", UtcDateTime, nullable=False),
)


# --- migrations ------------------------------------------------------------------------------------
# Any module of this package may add tables to `metadata`; `migrate` imports them all first.
# Missing tables are created on every open (`create_all(checkfirst=True)`), so a new table needs no
# migration step. A step is for changing an existing table (ALTER ...): append it to MIGRATIONS.
# A fresh database skips the steps (it gets today's tables) and is stamped with the latest version.

Migration = Callable[[Connection], None]


def _add_title_key(conn: Connection) -> None:
    """v2: `items.title_key`, indexed, backfilled on the first item of each (source, long title)."""
    conn.execute(text("ALTER TABLE items ADD COLUMN title_key TEXT"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_items_title_key ON items (title_key, source)"))
    from digestbot.store.rows import MIN_TITLE_KEY

    firsts: dict[tuple[str, str], str] = {}
    query = select(items.c.id, items.c.source, items.c.norm_title).order_by(items.c.first_seen, items.c.id)
    for item_id, source, norm_title in conn.execute(query):
        if len(norm_title) >= MIN_TITLE_KEY:
            firsts.setdefault((source, norm_title), item_id)
    rows = [{"b_id": item_id, "b_key": key} for (_, key), item_id in firsts.items()]
    for start in range(0, len(rows), 1000):
        conn.execute(
            update(items).where(items.c.id == bindparam("b_id")).values(title_key=bindparam("b_key")),
            rows[start : start + 1000],
        )


def _drop_paper_article_title_aliases(conn: Connection) -> None:
    """v3: forget the title aliases between a paper and an article (an explainer titled like its paper
    was merged into it, or the paper into it); the next fetch stores each as itself."""
    from digestbot.store.rows import PAPER_SOURCES

    patterns = [f"{source}:%" for source in sorted(PAPER_SOURCES)]
    alias_paper = or_(*(aliases.c.alias_id.like(p) for p in patterns))
    canonical_paper = or_(*(aliases.c.canonical_id.like(p) for p in patterns))
    crossed = or_(and_(alias_paper, not_(canonical_paper)), and_(not_(alias_paper), canonical_paper))
    conn.execute(delete(aliases).where(aliases.c.reason == "title", crossed))


MIGRATIONS: tuple[Migration, ...] = (
    lambda conn: None,  # v1: initial schema (created by create_all)
    _add_title_key,  # v2: items.title_key (issue 18: the title dedupe reads one row per source)
    _drop_paper_article_title_aliases,  # v3: papers and articles are never one item by title
)
SCHEMA_VERSION = len(MIGRATIONS)

_PG_SCHEMA_LOCK = 0x64696765737401  # pg advisory lock key for migrations ("digest" + 1)
_PG_WRITE_LOCK = 0x64696765737402  # pg advisory lock key serializing item writers


def _register_tables() -> None:
    package = importlib.import_module(__package__ or "digestbot.store")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def migrate(engine: Engine) -> int:
    """Create or upgrade the schema; returns the version now in place. Safe to call concurrently."""
    _register_tables()
    with write_transaction(engine, lock_key=_PG_SCHEMA_LOCK) as conn:
        schema_version.create(conn, checkfirst=True)
        current = conn.execute(select(func.max(schema_version.c.version))).scalar() or 0
        if current:
            for step in MIGRATIONS[current:]:
                step(conn)
        metadata.create_all(conn, checkfirst=True)
        now = datetime.now(UTC)
        first_new = current + 1 if current else SCHEMA_VERSION
        for version in range(first_new, SCHEMA_VERSION + 1):
            conn.execute(insert(schema_version).values(version=version, applied_at=now))
        return max(current, SCHEMA_VERSION)


# --- engine ----------------------------------------------------------------------------------------

_WRITE_OPTION = "digestbot_write"


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def create_store_engine(url: str) -> Engine:
    """An engine for `url` with our SQLite settings (WAL, busy timeout, foreign keys); no migration."""
    if problem := store_url_problem(url):
        raise StoreConfigError(f"DATABASE_URL / general.store_url {redact_url(url)!r}: {problem}")
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed, json_serializer=_json_dumps, connect_args={"timeout": 30})
            _configure_sqlite(engine)
            return engine
        return create_engine(parsed, json_serializer=_json_dumps, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        detail = Scrubber.of([url_password(url)])(str(exc))  # the driver may quote the whole URL
        raise StoreConfigError(f"store URL {redact_url(url)!r} is not usable: {detail}") from None


_OPEN_ATTEMPTS = 3


def open_engine(url: str) -> Engine:
    """Create the engine and bring the schema up to date."""
    engine = create_store_engine(url)
    attempt = 1
    while True:
        try:
            migrate(engine)
        except OperationalError as exc:
            # A brand-new SQLite file that several processes open at once can answer "database is
            # locked" once while one of them switches it to WAL; a short wait and a retry settle it.
            if attempt < _OPEN_ATTEMPTS and "database is locked" in str(exc):
                time.sleep(0.2 * attempt)
                attempt += 1
                continue
            error: SQLAlchemyError = exc
        except SQLAlchemyError as exc:
            error = exc
        else:
            return engine
        engine.dispose()
        raise StoreError(f"cannot open the store: {error_line(error)}") from error


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        writer = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


@contextmanager
def write_transaction(engine: Engine, *, lock_key: int = _PG_WRITE_LOCK) -> Iterator[Connection]:
    """One transaction holding the writer lock, so concurrent writers queue instead of colliding."""
    with engine.execution_options(**{_WRITE_OPTION: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
        yield conn


def upsert_statement(conn: Connection, table: Table) -> Any:
    """The dialect's `INSERT` construct, which offers `on_conflict_do_update/do_nothing`."""
    if conn.dialect.name == "postgresql":
        return pg_insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite_insert(table)
    raise StoreConfigError(f"unsupported database {conn.dialect.name!r}: use SQLite or PostgreSQL")


def error_line(exc: SQLAlchemyError) -> str:
    """The first line of the driver's message (no SQL, no parameters)."""
    message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return message[0] if message else type(exc).__name__
