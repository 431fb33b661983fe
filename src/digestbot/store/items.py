"""`ItemStore`: fetched items, deduplicated across runs and sources, plus the fetch-run log."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from types import TracebackType

from sqlalchemy import Engine, RowMapping, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from digestbot.domain import Item, SourceName, Window
from digestbot.store.rows import canonical, item_to_row, merge, row_to_item, same_kind, title_key, url_key
from digestbot.store.schema import (
    StoreError,
    aliases,
    error_line,
    fetch_runs,
    items,
    open_engine,
    upsert_statement,
    write_transaction,
)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What an upsert did with each incoming item: every item lands in exactly one bucket.

    `new`: a row was created. `updated`: an existing row changed (newer version, popularity, tags).
    `duplicates`: already stored unchanged, or recognized as the same item under another id/URL/title.
    """

    new: int = 0
    updated: int = 0
    duplicates: int = 0

    @property
    def total(self) -> int:
        return self.new + self.updated + self.duplicates

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.new + other.new, self.updated + other.updated, self.duplicates + other.duplicates
        )


@dataclass(frozen=True, slots=True)
class FetchRun:
    """One source's fetch, as recorded in the fetch-run log."""

    id: int
    source: SourceName
    window: Window
    fetched: int
    counts: UpsertCounts
    warnings: tuple[str, ...]
    errors: tuple[str, ...]
    failure: str | None
    started: datetime
    finished: datetime

    @property
    def failed(self) -> bool:
        return self.failure is not None


_ARXIV_VERSION_SUFFIX = re.compile(r"^(arxiv:.+?)v\d+$")


class ItemStore:
    """Items keyed by canonical id; see `upsert` for the deduplication rules.

    Opens (and creates or migrates) the database at `url`: `sqlite:///path.sqlite` or
    `postgresql+psycopg://...`. Pass an `Engine` to share one with `ResultCache`.
    """

    def __init__(self, url: str | Engine, *, clock: Clock = utc_now, batch_size: int = 1000) -> None:
        self._owns_engine = isinstance(url, str)
        self._engine = open_engine(url) if isinstance(url, str) else url
        self._clock = clock
        self._batch_size = batch_size

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    def __enter__(self) -> ItemStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- items ---------------------------------------------------------------------------------

    def upsert(self, new_items: Iterable[Item]) -> UpsertCounts:
        """Store items, idempotently, one transaction per batch.

        Deduplication: (a) arXiv versions share one row keyed by the id without version, holding the
        newest version's metadata; (b) an item whose URL is already stored under another id, or
        (c) whose normalized title is stored from another source of its kind (a Zenn cross-post of a
        Qiita article; never a paper and an article: an explainer titled like its paper is not the
        paper), is recorded as an alias of the first item (counted as a duplicate; the alias makes
        the next sighting a quick id lookup).
        """
        total = UpsertCounts()
        iterator = iter(new_items)
        while batch := list(islice(iterator, self._batch_size)):
            try:
                with write_transaction(self._engine) as conn:
                    total += _upsert_batch(conn, batch, self._clock())
            except SQLAlchemyError as exc:
                raise StoreError(f"cannot write items to the store: {error_line(exc)}") from exc
        return total

    def items_in_window(self, window: Window, *, sources: Iterable[SourceName] | None = None) -> list[Item]:
        """Items published in [window.start, window.end), oldest first."""
        query = select(items).where(items.c.published >= window.start, items.c.published < window.end)
        if sources is not None:
            query = query.where(items.c.source.in_([SourceName(s).value for s in sources]))
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(items.c.published, items.c.id)).mappings()
            return [row_to_item(row) for row in rows]

    def canonical_id(self, item_id: str) -> str | None:
        """The id an item is stored under (drops an arXiv version, follows aliases), or None."""
        key = _ARXIV_VERSION_SUFFIX.sub(r"\1", item_id)
        with self._engine.connect() as conn:
            if conn.execute(select(items.c.id).where(items.c.id == key)).first():
                return key
            target: str | None = conn.execute(
                select(aliases.c.canonical_id).where(aliases.c.alias_id == key)
            ).scalar()
            return target

    def get(self, item_id: str) -> Item | None:
        """The stored item for an id, a versioned arXiv id, or an alias (returned under its canonical id)."""
        key = self.canonical_id(item_id)
        if key is None:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(select(items).where(items.c.id == key)).mappings().first()
        return row_to_item(row) if row else None

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(items)).scalar_one())

    # --- fetch-run log -------------------------------------------------------------------------

    def record_fetch_run(
        self,
        source: SourceName,
        window: Window,
        counts: UpsertCounts,
        *,
        warnings: Sequence[str],
        errors: Sequence[str],
        started: datetime,
        finished: datetime,
        failure: str | None = None,
        fetched: int | None = None,
    ) -> int:
        """Log one source's run; `failure` is the cause when the whole source failed. Returns the run id."""
        row = {
            "source": SourceName(source).value,
            "window_start": window.start,
            "window_end": window.end,
            "fetched": counts.total if fetched is None else fetched,
            "new": counts.new,
            "updated": counts.updated,
            "duplicates": counts.duplicates,
            "warnings": list(warnings),
            "errors": list(errors),
            "failure": failure,
            "started": started,
            "finished": finished,
        }
        with self._engine.begin() as conn:
            return int(conn.execute(insert(fetch_runs).returning(fetch_runs.c.id), row).scalar_one())

    def recent_fetch_runs(self, limit: int = 20, *, source: SourceName | None = None) -> list[FetchRun]:
        """The latest runs, newest first."""
        query = select(fetch_runs).order_by(fetch_runs.c.started.desc(), fetch_runs.c.id.desc()).limit(limit)
        if source is not None:
            query = query.where(fetch_runs.c.source == SourceName(source).value)
        with self._engine.connect() as conn:
            return [_fetch_run(row) for row in conn.execute(query).mappings()]


def _fetch_run(row: RowMapping) -> FetchRun:
    return FetchRun(
        id=row["id"],
        source=SourceName(row["source"]),
        window=Window(row["window_start"], row["window_end"]),
        fetched=row["fetched"],
        counts=UpsertCounts(row["new"], row["updated"], row["duplicates"]),
        warnings=tuple(row["warnings"]),
        errors=tuple(row["errors"]),
        failure=row["failure"],
        started=row["started"],
        finished=row["finished"],
    )


class _Batch:
    """What one batch already knows: stored rows and the url/title keys that identify them."""

    def __init__(self, conn: Connection, batch: Sequence[Item]) -> None:
        ids = {item.id for item in batch}
        query = select(items).where(items.c.id.in_(ids))
        self.stored = {row["id"]: row_to_item(row) for row in conn.execute(query).mappings()}
        alias_rows = conn.execute(
            select(aliases.c.alias_id, aliases.c.canonical_id).where(aliases.c.alias_id.in_(ids))
        )
        self.alias_of: dict[str, str] = {row.alias_id: row.canonical_id for row in alias_rows}
        order = (items.c.first_seen, items.c.id)
        self.by_url: dict[str, str] = {}
        url_keys = {url_key(item.url) for item in batch}
        for item_id, key in conn.execute(
            select(items.c.id, items.c.url_key).where(items.c.url_key.in_(url_keys)).order_by(*order)
        ):
            self.by_url.setdefault(key, item_id)
        self.by_title: dict[str, dict[str, str]] = {}  # title key -> source -> first id
        title_keys = {key for item in batch if (key := title_key(item.title))}
        for item_id, source, key in conn.execute(  # one row per (title, source): see items.title_key
            select(items.c.id, items.c.source, items.c.title_key)
            .where(items.c.title_key.in_(title_keys))
            .order_by(*order)
        ):
            self.by_title.setdefault(key, {}).setdefault(source, item_id)

    def remember(self, item: Item) -> None:
        self.by_url.setdefault(url_key(item.url), item.id)
        if key := title_key(item.title):
            self.by_title.setdefault(key, {}).setdefault(item.source.value, item.id)

    def holds_title(self, item: Item) -> str | None:
        """The item's title key when it is the first of its source with that title (the row keeps it)."""
        key = title_key(item.title)
        if key is None:
            return None
        first = self.by_title.setdefault(key, {}).setdefault(item.source.value, item.id)
        return key if first == item.id else None

    def same_as(self, item: Item) -> tuple[str, str] | None:
        """(canonical id, reason) when another stored item is this one under a different id."""
        by_url = self.by_url.get(url_key(item.url))
        if by_url is not None and by_url != item.id:
            return by_url, "url"
        key = title_key(item.title)
        for source, item_id in self.by_title.get(key, {}).items() if key else ():
            if source != item.source.value and same_kind(source, item.source.value):
                return item_id, "title"
        return None


def _upsert_batch(conn: Connection, raw: Sequence[Item], now: datetime) -> UpsertCounts:
    batch = [canonical(item) for item in raw]
    known = _Batch(conn, batch)
    created: dict[str, Item] = {}
    changed: dict[str, Item] = {}
    seen: set[str] = set()
    new_aliases: dict[str, tuple[str, str]] = {}
    updated = duplicates = 0
    for item in batch:
        if item.id in created:
            created[item.id] = merge(created[item.id], item)
            duplicates += 1
        elif item.id in known.stored:
            seen.add(item.id)
            current = changed.get(item.id, known.stored[item.id])
            merged = merge(current, item)
            if merged != current:
                changed[item.id] = merged
                updated += 1
            else:
                duplicates += 1
        elif item.id in known.alias_of or item.id in new_aliases:
            duplicates += 1
        elif match := known.same_as(item):
            new_aliases[item.id] = match
            duplicates += 1
        else:
            created[item.id] = item
            known.remember(item)
    keys = {item_id: known.holds_title(item) for item_id, item in (created | changed).items()}
    _write(
        conn,
        keys=keys,
        created=created,
        changed=changed,
        touched=seen - changed.keys(),
        new_aliases=new_aliases,
        now=now,
    )
    return UpsertCounts(len(created), updated, duplicates)


def _write(
    conn: Connection,
    *,
    keys: dict[str, str | None],
    created: dict[str, Item],
    changed: dict[str, Item],
    touched: set[str],
    new_aliases: dict[str, tuple[str, str]],
    now: datetime,
) -> None:
    if created:
        rows = [
            item_to_row(i, first_seen=now, last_seen=now) | {"title_key": keys[i.id]}
            for i in created.values()
        ]
        conn.execute(insert(items), rows)
    if changed:
        rows = []
        for item in changed.values():
            row = item_to_row(item, first_seen=now, last_seen=now) | {"title_key": keys[item.id]}
            del row["first_seen"]
            row["b_id"] = row.pop("id")
            rows.append(row)
        conn.execute(update(items).where(items.c.id == bindparam("b_id")), rows)
    if touched:
        conn.execute(update(items).where(items.c.id.in_(touched)).values(last_seen=now))
    if new_aliases:
        alias_rows = [
            {"alias_id": alias, "canonical_id": target, "reason": reason, "created": now}
            for alias, (target, reason) in new_aliases.items()
        ]
        conn.execute(upsert_statement(conn, aliases).on_conflict_do_nothing(), alias_rows)
