"""The ledger of follow DM digests: one row per (user, period), so a re-run never DMs twice.

Like `digest_posts`: `intent` is written before chat.postMessage, `sent` (with the DM channel and
ts) once Slack answered, `failed` with Slack's error code when it refused (e.g. `user_not_found`,
`cannot_dm_bot`). A row left in `intent` means a run died mid-send: the next attempt looks in the DM
for the period's marker before sending (`follow_dm.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Column, Engine, Integer, String, Table, Text, UniqueConstraint, select, update

from digestbot.store.schema import UtcDateTime, metadata, upsert_statement, write_transaction

DmStatus = Literal["intent", "sent", "failed"]

follow_dms = Table(
    "follow_dms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(40), nullable=False),
    Column("period", String(100), nullable=False),
    Column("status", String(16), nullable=False),  # intent | sent | failed
    Column("channel_id", String(40)),  # the DM's id (conversations.open)
    Column("ts", String(40)),
    Column("error", Text),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("user_id", "period", name="uq_follow_dms_user_period"),
)


@dataclass(frozen=True, slots=True)
class DmRecord:
    user_id: str
    period: str
    status: DmStatus
    channel_id: str | None
    ts: str | None
    error: str | None
    updated_at: datetime


def _where(user_id: str, period: str) -> Any:
    return (follow_dms.c.user_id == user_id) & (follow_dms.c.period == period)


def find(engine: Engine, user_id: str, period: str) -> DmRecord | None:
    with engine.connect() as conn:
        row = conn.execute(select(follow_dms).where(_where(user_id, period))).mappings().first()
    if row is None:
        return None
    return DmRecord(
        row["user_id"],
        row["period"],
        row["status"],
        row["channel_id"],
        row["ts"],
        row["error"],
        row["updated_at"],
    )


def record_intent(
    engine: Engine, user_id: str, period: str, *, channel_id: str, now: datetime | None = None
) -> None:
    moment = now or datetime.now(UTC)
    values = {"status": "intent", "channel_id": channel_id, "error": None, "updated_at": moment}
    with write_transaction(engine) as conn:
        statement = upsert_statement(conn, follow_dms).values(user_id=user_id, period=period, **values)
        conn.execute(statement.on_conflict_do_update(index_elements=["user_id", "period"], set_=values))


def _set(engine: Engine, user_id: str, period: str, **values: Any) -> None:
    with write_transaction(engine) as conn:
        conn.execute(update(follow_dms).where(_where(user_id, period)).values(**values))


def mark_sent(
    engine: Engine, user_id: str, period: str, *, channel_id: str, ts: str, now: datetime | None = None
) -> None:
    moment = now or datetime.now(UTC)
    _set(engine, user_id, period, status="sent", channel_id=channel_id, ts=ts, error=None, updated_at=moment)


def mark_failed(
    engine: Engine, user_id: str, period: str, *, error: str, now: datetime | None = None
) -> None:
    """Record a refusal (a row is created when the DM could not even be opened)."""
    moment = now or datetime.now(UTC)
    values = {"status": "failed", "error": error[:500], "updated_at": moment}
    with write_transaction(engine) as conn:
        statement = upsert_statement(conn, follow_dms).values(user_id=user_id, period=period, **values)
        conn.execute(statement.on_conflict_do_update(index_elements=["user_id", "period"], set_=values))
