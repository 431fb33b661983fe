"""Reader votes (👍 = +1, 👎 = -1): one row per (item, user), changeable, users stored only as hashes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    Engine,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    select,
)

from digestbot.store.schema import UtcDateTime, items, metadata, upsert_statement, write_transaction

feedback_votes = Table(
    "feedback_votes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(200), nullable=False),
    Column("user_hash", String(64), nullable=False),  # HMAC-SHA256 of team:user, never the Slack id
    Column("vote", Integer, nullable=False),  # +1 or -1
    Column("category", String(100), nullable=False),  # the category the item was shown under
    Column("source", String(20), nullable=False),
    Column("channel_id", String(40), nullable=False),
    Column("message_ts", String(40), nullable=False),
    Column("voted_at", UtcDateTime, nullable=False),  # first vote
    Column("updated_at", UtcDateTime, nullable=False),  # last change
    UniqueConstraint("item_id", "user_hash", name="uq_feedback_votes_item_user"),
    Index("ix_feedback_votes_updated", "updated_at"),
)


@dataclass(frozen=True)
class Vote:
    item_id: str
    user_hash: str
    vote: int
    category: str
    source: str
    channel_id: str = ""
    message_ts: str = ""
    updated_at: datetime | None = None


def upsert_vote(engine: Engine, vote: Vote, now: datetime) -> bool:
    """Record or change one user's vote on an item; True when it changed anything."""
    with write_transaction(engine) as conn:
        where = (feedback_votes.c.item_id == vote.item_id) & (feedback_votes.c.user_hash == vote.user_hash)
        before = conn.execute(select(feedback_votes.c.vote, feedback_votes.c.category).where(where)).first()
        if before is not None and (before.vote, before.category) == (vote.vote, vote.category):
            return False
        row = {
            "item_id": vote.item_id,
            "user_hash": vote.user_hash,
            "vote": vote.vote,
            "category": vote.category,
            "source": vote.source,
            "channel_id": vote.channel_id,
            "message_ts": vote.message_ts,
            "voted_at": now,
            "updated_at": now,
        }
        changed = {k: row[k] for k in ("vote", "category", "channel_id", "message_ts", "updated_at")}
        statement = upsert_statement(conn, feedback_votes).values(**row)
        conn.execute(statement.on_conflict_do_update(index_elements=["item_id", "user_hash"], set_=changed))
    return True


def votes(
    engine: Engine, *, since: datetime | None = None, item_ids: Sequence[str] | None = None
) -> list[Vote]:
    """Votes (optionally changed since `since`, or on some items), newest change first."""
    query = select(feedback_votes).order_by(feedback_votes.c.updated_at.desc(), feedback_votes.c.id.desc())
    if since is not None:
        query = query.where(feedback_votes.c.updated_at >= since)
    if item_ids is not None:
        query = query.where(feedback_votes.c.item_id.in_(list(item_ids)))
    with engine.connect() as conn:
        return [
            Vote(
                item_id=row.item_id,
                user_hash=row.user_hash,
                vote=row.vote,
                category=row.category,
                source=row.source,
                channel_id=row.channel_id,
                message_ts=row.message_ts,
                updated_at=row.updated_at,
            )
            for row in conn.execute(query)
        ]


def item_titles(engine: Engine, item_ids: Sequence[str]) -> dict[str, str]:
    """The stored titles of voted items (items no longer stored are left out)."""
    if not item_ids:
        return {}
    with engine.connect() as conn:
        query = select(items.c.id, items.c.title).where(items.c.id.in_(list(item_ids)))
        return {row.id: row.title for row in conn.execute(query)}
