"""The archive of posted digests, and the intent log that keeps posting idempotent.

One row per (channel, period). Before anything is sent to Slack the row is written with status
`intent`; each message's ts is recorded as soon as Slack answers; `posted` (with permalink) or
`failed` closes the attempt. A row left in `intent` means a run died mid-delivery: the next
delivery looks in Slack for the marked messages before posting anything (see `delivery.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Column, Engine, Index, Integer, String, Table, Text, UniqueConstraint, select, update
from sqlalchemy.engine import RowMapping

from digestbot.store.schema import Json, UtcDateTime, metadata, upsert_statement, write_transaction

Status = Literal["intent", "posted", "failed"]

digest_posts = Table(
    "digest_posts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(200), nullable=False),  # as configured: "#llm-digest" or an ID
    Column("period", String(100), nullable=False),  # e.g. "2026-11-16..2026-11-22"
    Column("status", String(16), nullable=False),  # intent | posted | failed
    Column("channel_id", String(40)),  # Slack's ID, known after the first message
    Column("ts", Json, nullable=False),  # every message's ts, parent first
    Column("permalink", Text),
    Column("item_ids", Json, nullable=False),
    Column("digest", Json, nullable=False),  # digest_json.digest_to_dict(...)
    Column("error", Text),
    Column("intent_at", UtcDateTime, nullable=False),  # when the current attempt started
    Column("posted_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel", "period", name="uq_digest_posts_channel_period"),
    Index("ix_digest_posts_updated", "updated_at"),
)


@dataclass(frozen=True)
class DigestPost:
    channel: str
    period: str
    status: Status
    channel_id: str | None
    ts: tuple[str, ...]
    permalink: str | None
    item_ids: tuple[str, ...]
    digest: dict[str, Any]
    error: str | None
    intent_at: datetime
    posted_at: datetime | None
    updated_at: datetime


def _post(row: RowMapping) -> DigestPost:
    return DigestPost(
        channel=row["channel"],
        period=row["period"],
        status=row["status"],
        channel_id=row["channel_id"],
        ts=tuple(row["ts"] or ()),
        permalink=row["permalink"],
        item_ids=tuple(row["item_ids"] or ()),
        digest=dict(row["digest"] or {}),
        error=row["error"],
        intent_at=row["intent_at"],
        posted_at=row["posted_at"],
        updated_at=row["updated_at"],
    )


def ensure_table(engine: Engine) -> None:
    """Create `digest_posts` if this store predates it (idempotent)."""
    with write_transaction(engine) as conn:
        digest_posts.create(conn, checkfirst=True)


def find_post(engine: Engine, channel: str, period: str) -> DigestPost | None:
    with engine.connect() as conn:
        where = (digest_posts.c.channel == channel) & (digest_posts.c.period == period)
        row = conn.execute(select(digest_posts).where(where)).mappings().first()
    return _post(row) if row is not None else None


def record_intent(
    engine: Engine,
    *,
    channel: str,
    period: str,
    digest: dict[str, Any],
    item_ids: Sequence[str],
    now: datetime | None = None,
) -> DigestPost:
    """Write (or reopen) the row as `intent` before posting. Keeps the ts already known."""
    moment = now or datetime.now(UTC)
    values = {"status": "intent", "digest": digest, "item_ids": list(item_ids), "error": None}
    with write_transaction(engine) as conn:
        statement = upsert_statement(conn, digest_posts).values(
            channel=channel, period=period, ts=[], intent_at=moment, updated_at=moment, **values
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["channel", "period"],
                set_={**values, "intent_at": moment, "updated_at": moment},
            )
        )
    post = find_post(engine, channel, period)
    assert post is not None
    return post


def _set(engine: Engine, channel: str, period: str, **values: Any) -> None:
    where = (digest_posts.c.channel == channel) & (digest_posts.c.period == period)
    with write_transaction(engine) as conn:
        conn.execute(update(digest_posts).where(where).values(**values))


def record_progress(engine: Engine, channel: str, period: str, *, channel_id: str, ts: Sequence[str]) -> None:
    """Remember the messages already in Slack (called after each one)."""
    _set(engine, channel, period, channel_id=channel_id, ts=list(ts), updated_at=datetime.now(UTC))


def mark_posted(
    engine: Engine,
    channel: str,
    period: str,
    *,
    channel_id: str,
    ts: Sequence[str],
    permalink: str | None,
    now: datetime | None = None,
) -> None:
    moment = now or datetime.now(UTC)
    _set(
        engine,
        channel,
        period,
        status="posted",
        channel_id=channel_id,
        ts=list(ts),
        permalink=permalink,
        error=None,
        posted_at=moment,
        updated_at=moment,
    )


def mark_failed(
    engine: Engine, channel: str, period: str, *, error: str, now: datetime | None = None
) -> None:
    _set(engine, channel, period, status="failed", error=error, updated_at=now or datetime.now(UTC))


def pending_intents(engine: Engine) -> list[DigestPost]:
    """Rows a crashed run left in `intent`, oldest first."""
    with engine.connect() as conn:
        query = (
            select(digest_posts).where(digest_posts.c.status == "intent").order_by(digest_posts.c.intent_at)
        )
        return [_post(row) for row in conn.execute(query).mappings()]


def recent_posts(engine: Engine, *, limit: int = 20) -> list[DigestPost]:
    """The archive, newest first."""
    with engine.connect() as conn:
        query = select(digest_posts).order_by(digest_posts.c.updated_at.desc()).limit(limit)
        return [_post(row) for row in conn.execute(query).mappings()]


def last_digest(engine: Engine, channel: str | None = None) -> dict[str, Any] | None:
    """The digest JSON of the most recent attempt (any status), optionally for one channel."""
    query = select(digest_posts.c.digest).order_by(digest_posts.c.intent_at.desc()).limit(1)
    if channel is not None:
        query = query.where(digest_posts.c.channel == channel)
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    return dict(value) if value else None


def posted_item_ids(engine: Engine, *, other_than: str) -> set[str]:
    """Item ids already shown in a posted scheduled digest of another period.

    On-demand digests (periods with `#`) do not count: a `/digest 3d` must not hide an item from
    the weekly digest.
    """
    ensure_table(engine)
    query = select(digest_posts.c.item_ids).where(
        (digest_posts.c.status == "posted")
        & (digest_posts.c.period != other_than)
        & ~digest_posts.c.period.contains("#")
    )
    with engine.connect() as conn:
        return {item_id for (ids,) in conn.execute(query) for item_id in ids or ()}


def post_of_message(engine: Engine, channel_id: str, ts: str, *, scan: int = 200) -> DigestPost | None:
    """The archived digest one of whose messages is `ts` in `channel_id` (the newest `scan` posts
    of that channel are looked at), or None: a message we did not post is not ours to edit."""
    ensure_table(engine)
    query = (
        select(digest_posts)
        .where(digest_posts.c.channel_id == channel_id)
        .order_by(digest_posts.c.id.desc())
        .limit(scan)
    )
    with engine.connect() as conn:
        posts = [_post(row) for row in conn.execute(query).mappings()]
    return next((post for post in posts if ts in post.ts), None)
