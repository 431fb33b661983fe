"""Corrections made in Slack: re-written blurbs (old, new, the reader's note) and category fixes.

Users are stored only as hashes (like votes, see `feedback.hash_user`). Every attempt is a row, so
the history stays; readers of the category corrections use the latest one per item.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Column, Engine, Index, Integer, Row, String, Table, Text, func, insert, select

from digestbot.store.schema import UtcDateTime, metadata, write_transaction

blurb_corrections = Table(
    "blurb_corrections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(200), nullable=False),
    Column("user_hash", String(64), nullable=False),  # HMAC-SHA256 of team:user, never the Slack id
    Column("channel_id", String(40), nullable=False),
    Column("message_ts", String(40), nullable=False),
    Column("note", Text, nullable=False),  # the reader's note, cleaned and bounded
    Column("old_blurb", Text, nullable=False),
    Column("new_blurb", Text, nullable=False),  # "" when nothing was written
    Column("status", String(16), nullable=False),  # applied | rejected | unchanged | failed
    Column("reason", Text, nullable=False),  # why it was not applied ("" when applied)
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_blurb_corrections_item", "item_id"),
)

category_corrections = Table(
    "category_corrections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(200), nullable=False),
    Column("title", Text, nullable=False),  # kept so the few-shot example outlives the item row
    Column("old_category", String(100), nullable=False),
    Column("new_category", String(100), nullable=False),
    Column("user_hash", String(64), nullable=False),
    Column("channel_id", String(40), nullable=False),
    Column("message_ts", String(40), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_category_corrections_item", "item_id"),
    Index("ix_category_corrections_created", "created_at"),
)


@dataclass(frozen=True)
class BlurbCorrection:
    item_id: str
    user_hash: str
    channel_id: str
    message_ts: str
    note: str
    old_blurb: str
    new_blurb: str
    status: str
    reason: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class CategoryCorrection:
    item_id: str
    title: str
    old_category: str
    new_category: str
    user_hash: str
    channel_id: str = ""
    message_ts: str = ""
    created_at: datetime | None = None


Correction = TypeVar("Correction", BlurbCorrection, CategoryCorrection)


def _add(engine: Engine, table: Table, row: BlurbCorrection | CategoryCorrection, now: datetime) -> None:
    with write_transaction(engine) as conn:
        conn.execute(insert(table).values(**{**asdict(row), "created_at": now}))


def _read(kind: type[Correction], rows: Iterable[Row[Any]]) -> list[Correction]:
    """Rows as `kind` (its fields by name; the table's `id` is not one of them)."""
    names = [f.name for f in fields(kind)]
    return [kind(**{name: row._mapping[name] for name in names}) for row in rows]


def add_blurb_correction(engine: Engine, row: BlurbCorrection, now: datetime) -> None:
    _add(engine, blurb_corrections, row, now)


def blurb_history(engine: Engine, item_id: str | None = None) -> list[BlurbCorrection]:
    """Blurb corrections (of one item, or all), oldest first."""
    query = select(blurb_corrections).order_by(blurb_corrections.c.id)
    if item_id is not None:
        query = query.where(blurb_corrections.c.item_id == item_id)
    with engine.connect() as conn:
        return _read(BlurbCorrection, conn.execute(query))


def add_category_correction(engine: Engine, row: CategoryCorrection, now: datetime) -> None:
    _add(engine, category_corrections, row, now)


def latest_category_corrections(
    engine: Engine, *, since: datetime | None = None, limit: int | None = None
) -> list[CategoryCorrection]:
    """The latest category correction of each item (optionally made since `since`), newest first."""
    latest = select(func.max(category_corrections.c.id)).group_by(category_corrections.c.item_id)
    query = (
        select(category_corrections)
        .where(category_corrections.c.id.in_(latest))
        .order_by(category_corrections.c.id.desc())
    )
    if since is not None:
        query = query.where(category_corrections.c.created_at >= since)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return _read(CategoryCorrection, conn.execute(query))


def current_category(engine: Engine, item_id: str) -> str | None:
    """The category the team last chose for the item, or None when it was never corrected."""
    query = (
        select(category_corrections.c.new_category)
        .where(category_corrections.c.item_id == item_id)
        .order_by(category_corrections.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def current_blurb(engine: Engine, item_id: str, channel_id: str, message_ts: str) -> str | None:
    """The last blurb a correction put into this message for the item, or None."""
    query = (
        select(blurb_corrections.c.new_blurb)
        .where(
            (blurb_corrections.c.item_id == item_id)
            & (blurb_corrections.c.channel_id == channel_id)
            & (blurb_corrections.c.message_ts == message_ts)
            & (blurb_corrections.c.status == "applied")
        )
        .order_by(blurb_corrections.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar()
