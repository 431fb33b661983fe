"""What each Slack member follows (`/digest follow`): categories and keywords, and the DM choice.

Two tables keyed by the Slack user id (the only identity the 👀 mention is ever built from):
`follow_members` (display name for the no-ping mode, whether they want a DM digest) and `follows`
(one row per topic: kind `category` or `keyword`, the normalized value). The bound on topics per
member is checked inside the write transaction, so two concurrent commands cannot pass it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy.engine import Connection

from digestbot.follows import Member, Topic
from digestbot.store.schema import UtcDateTime, metadata, upsert_statement, write_transaction

follow_members = Table(
    "follow_members",
    metadata,
    Column("user_id", String(40), primary_key=True),  # Slack's U…/W… id, validated before it is stored
    Column("display_name", String(200), nullable=False),  # shown (escaped) when mentions are off
    Column("dm", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

follows = Table(
    "follows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(40), nullable=False),
    Column("kind", String(16), nullable=False),  # category | keyword
    Column("value", String(200), nullable=False),  # a category id, or the normalized keyword
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("user_id", "kind", "value", name="uq_follows_user_kind_value"),
    Index("ix_follows_user", "user_id"),
)


@dataclass(frozen=True, slots=True)
class Added:
    added: tuple[Topic, ...]
    already: tuple[Topic, ...]
    over_limit: tuple[Topic, ...]  # not stored: the member would have more than the limit


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _upsert_member(conn: Connection, user_id: str, name: str, dm: bool | None, moment: datetime) -> None:
    statement = upsert_statement(conn, follow_members).values(
        user_id=user_id, display_name=name[:200], dm=bool(dm), updated_at=moment
    )
    changes: dict[str, object] = {"display_name": name[:200], "updated_at": moment}
    if dm is not None:
        changes["dm"] = dm
    conn.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=changes))


def add_topics(
    engine: Engine,
    user_id: str,
    topics: Sequence[Topic],
    *,
    display_name: str,
    limit: int,
    dm: bool | None = None,
    now: datetime | None = None,
) -> Added:
    """Follow `topics` (kept in order, duplicates ignored) up to `limit` per member; `dm` True/False
    switches the DM digest, None keeps the member's choice."""
    moment = _now(now)
    added: list[Topic] = []
    already: list[Topic] = []
    over: list[Topic] = []
    with write_transaction(engine) as conn:
        _upsert_member(conn, user_id, display_name, dm, moment)
        rows = conn.execute(select(follows.c.kind, follows.c.value).where(follows.c.user_id == user_id))
        known = {Topic(row.kind, row.value) for row in rows}
        for topic in dict.fromkeys(topics):
            if topic in known:
                already.append(topic)
            elif len(known) >= limit:
                over.append(topic)
            else:
                conn.execute(
                    follows.insert().values(
                        user_id=user_id, kind=topic.kind, value=topic.value, created_at=moment
                    )
                )
                known.add(topic)
                added.append(topic)
    return Added(tuple(added), tuple(already), tuple(over))


def remove_topics(engine: Engine, user_id: str, topics: Iterable[Topic] | None) -> int:
    """Unfollow `topics` (None: every topic); returns how many rows went."""
    with write_transaction(engine) as conn:
        where = follows.c.user_id == user_id
        if topics is None:
            return int(conn.execute(delete(follows).where(where)).rowcount or 0)
        removed = 0
        for topic in topics:
            match = where & (follows.c.kind == topic.kind) & (follows.c.value == topic.value)
            removed += int(conn.execute(delete(follows).where(match)).rowcount or 0)
        return removed


def set_dm(engine: Engine, user_id: str, dm: bool, *, display_name: str, now: datetime | None = None) -> None:
    with write_transaction(engine) as conn:
        _upsert_member(conn, user_id, display_name, dm, _now(now))


def member(engine: Engine, user_id: str) -> Member | None:
    found = members(engine, user_ids=(user_id,))
    return found[0] if found else None


def members(engine: Engine, *, user_ids: Sequence[str] | None = None) -> list[Member]:
    """Members with their topics (every member, or those in `user_ids`), by user id."""
    people = select(follow_members).order_by(follow_members.c.user_id)
    topics = select(follows).order_by(follows.c.user_id, follows.c.id)
    if user_ids is not None:
        people = people.where(follow_members.c.user_id.in_(list(user_ids)))
        topics = topics.where(follows.c.user_id.in_(list(user_ids)))
    with engine.connect() as conn:
        by_user: dict[str, list[Topic]] = {}
        for row in conn.execute(topics):
            by_user.setdefault(row.user_id, []).append(Topic(row.kind, row.value))
        return [
            Member(row.user_id, row.display_name, bool(row.dm), tuple(by_user.get(row.user_id, ())))
            for row in conn.execute(people)
        ]
