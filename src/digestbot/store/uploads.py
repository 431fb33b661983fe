"""Files uploaded into a digest's thread (the trends chart), so a re-delivery never uploads twice.

A row with an empty `file_id` is owed: recorded before the digest is posted, filled in once the
upload succeeds, so a crash in between is retried (`delivery_chart.retry_pending_chart`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Engine, Integer, String, Table, UniqueConstraint, select

from digestbot.store.schema import UtcDateTime, metadata, upsert_statement, write_transaction

digest_files = Table(
    "digest_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(200), nullable=False),
    Column("period", String(100), nullable=False),
    Column("kind", String(40), nullable=False),  # "trends_chart"
    Column("file_id", String(40), nullable=False),  # "" while owed (not uploaded yet)
    Column("uploaded_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel", "period", "kind", name="uq_digest_files_channel_period_kind"),
)


def _where(channel: str, period: str, kind: str) -> Any:
    return (
        (digest_files.c.channel == channel)
        & (digest_files.c.period == period)
        & (digest_files.c.kind == kind)
    )


def record_pending(engine: Engine, *, channel: str, period: str, kind: str, now: datetime) -> None:
    """Mark the file as owed (kept as it is when already owed or uploaded)."""
    with write_transaction(engine) as conn:
        statement = upsert_statement(conn, digest_files).values(
            channel=channel, period=period, kind=kind, file_id="", uploaded_at=now
        )
        conn.execute(statement.on_conflict_do_nothing(index_elements=["channel", "period", "kind"]))


def is_pending(engine: Engine, channel: str, period: str, kind: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(select(digest_files.c.file_id).where(_where(channel, period, kind))).first()
    return found is not None and not found[0]


def pending_uploads(engine: Engine, kind: str) -> list[tuple[str, str]]:
    """(channel, period) of every file still owed, oldest first."""
    query = (
        select(digest_files.c.channel, digest_files.c.period)
        .where((digest_files.c.kind == kind) & (digest_files.c.file_id == ""))
        .order_by(digest_files.c.uploaded_at)
    )
    with engine.connect() as conn:
        return [(row.channel, row.period) for row in conn.execute(query)]


def uploaded_file(engine: Engine, channel: str, period: str, kind: str) -> str | None:
    """The Slack file id already uploaded for this digest, or None (also while it is owed)."""
    with engine.connect() as conn:
        found: str | None = conn.execute(
            select(digest_files.c.file_id).where(_where(channel, period, kind))
        ).scalar()
        return found or None


def record_upload(
    engine: Engine, *, channel: str, period: str, kind: str, file_id: str, now: datetime
) -> None:
    with write_transaction(engine) as conn:
        statement = upsert_statement(conn, digest_files).values(
            channel=channel, period=period, kind=kind, file_id=file_id, uploaded_at=now
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["channel", "period", "kind"], set_={"file_id": file_id, "uploaded_at": now}
            )
        )
