"""Files uploaded into a digest's thread (the trends chart), so a re-delivery never uploads twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Engine, Integer, String, Table, UniqueConstraint, select

from digestbot.store.schema import UtcDateTime, metadata, upsert_statement, write_transaction

digest_files = Table(
    "digest_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(200), nullable=False),
    Column("period", String(100), nullable=False),
    Column("kind", String(40), nullable=False),  # "trends_chart"
    Column("file_id", String(40), nullable=False),
    Column("uploaded_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel", "period", "kind", name="uq_digest_files_channel_period_kind"),
)


def uploaded_file(engine: Engine, channel: str, period: str, kind: str) -> str | None:
    """The Slack file id already uploaded for this digest, or None."""
    where = (
        (digest_files.c.channel == channel)
        & (digest_files.c.period == period)
        & (digest_files.c.kind == kind)
    )
    with engine.connect() as conn:
        found: str | None = conn.execute(select(digest_files.c.file_id).where(where)).scalar()
        return found


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
