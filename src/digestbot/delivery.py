"""Deliver a digest to Slack exactly once per (channel, period).

The flow, decided per existing `digest_posts` row:

* none: record the intent, post (first message, then thread replies), record each ts as Slack
  answers, then mark posted with the permalink.
* `posted`: refuse with `DeliveryRefused` (naming the permalink and `--force`); with `force=True`
  the messages are edited in place with chat.update (extra parts are added to the thread, parts no
  longer needed are blanked), so a channel never gets a second copy.
* `intent` (a run died mid-delivery): look in the channel first (conversations.history from the
  intent time, matching the period marker in message metadata) and adopt what is there; only the
  parts not found are posted.
* `failed`: the recorded parts are kept and only the rest is posted.

A weekly digest with a trends section then gets its chart (PNG) uploaded into the thread, once per
channel and period (`digest_files`); a chart that cannot be drawn or uploaded is reported in the
result, never fails the delivery of the digest itself.

A failure marks the row `failed` (or leaves it `intent` when the post may have reached Slack) and
re-raises `SlackDeliveryError`; the digest itself stays in the store and in latest.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from sqlalchemy import Engine

from digestbot.digest_json import digest_from_dict, digest_to_dict, digests_dir, write_json
from digestbot.domain import Digest, Window
from digestbot.settings import Settings
from digestbot.slack.errors import SlackDeliveryError
from digestbot.slack.publish import Posted, SlackPublisher
from digestbot.slack.render import render_digest
from digestbot.slack.retry import Clock, Sleep
from digestbot.store import digests as posts
from digestbot.store import uploads
from digestbot.store.schema import open_engine

BLOCKS = "blocks.json"
RECONCILE_MARGIN = timedelta(minutes=5)  # clock skew between this host and Slack

Action = Literal["posted", "updated", "reconciled"]


class DeliveryRefused(Exception):
    """The digest for this channel and period was already posted and `force` was not given."""

    def __init__(self, message: str, *, permalink: str | None) -> None:
        super().__init__(message)
        self.permalink = permalink


@dataclass(frozen=True)
class DeliveryResult:
    action: Action  # posted: new; updated: edited in place (--force); reconciled: found after a crash
    channel: str
    channel_id: str
    period: str
    ts: tuple[str, ...]
    permalink: str | None
    messages: int
    chart_file_id: str | None = None  # the trends chart in the thread (None: none, or not uploaded)
    chart_error: str = ""  # why the chart is missing, for the run report


def period_key(window: Window, tz: str = "Asia/Tokyo") -> str:
    """`2026-11-16..2026-11-22`: the local days the digest covers (what `Window.label` shows)."""
    zone = ZoneInfo(tz)
    first = window.start.astimezone(zone).date()
    last = (window.end - timedelta(seconds=1)).astimezone(zone).date()
    return f"{first.isoformat()}..{last.isoformat()}"


def save_blocks(digest: Digest, settings: Settings, path: Path | None = None) -> Path:
    """Write the exact chat.postMessage payloads (`--dry-run`): default `<data_dir>/digests/blocks.json`."""
    messages = render_digest(
        digest,
        tz=settings.app.general.timezone,
        votes=settings.app.feedback.buttons,
        reasons=settings.app.slack.show_reason,
    )
    return write_json(path or digests_dir(settings) / BLOCKS, messages)


def _same_digest(saved: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    def strip(d: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k != "stats"}

    return strip(saved) == strip(current)


def _engine(store: Engine | str) -> tuple[Engine, bool]:
    if isinstance(store, Engine):
        return store, False
    return open_engine(store), True


def deliver(
    digest: Digest,
    settings: Settings,
    store: Engine | str,
    *,
    force: bool = False,
    channel: str | None = None,
    period: str | None = None,
    stats: Mapping[str, Any] | None = None,
    client: WebClient | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DeliveryResult:
    """Post `digest` to `channel` (default: `[slack] channel`) once; see the module docstring."""
    engine, owned = _engine(store)
    try:
        posts.ensure_table(engine)
        return _deliver(
            digest,
            settings,
            engine,
            force=force,
            channel=channel or settings.app.slack.channel,
            period=period or period_key(digest.window, settings.app.general.timezone),
            stats=stats,
            publisher=SlackPublisher.from_settings(settings, client=client, sleep=sleep, clock=clock),
            now=now,
        )
    finally:
        if owned:
            engine.dispose()


def _refusal(existing: posts.DigestPost, channel: str, period: str) -> DeliveryRefused:
    where = existing.permalink or f"{channel}, ts {existing.ts[0] if existing.ts else '?'}"
    return DeliveryRefused(
        f"the digest for {period} was already posted to {channel} ({where}): "
        "run again with --force to update that message in place",
        permalink=existing.permalink,
    )


def check_not_posted(
    settings: Settings, engine: Engine, window: Window, *, channel: str | None = None
) -> None:
    """Raise `DeliveryRefused` if this period's digest is already in the channel.

    `run` calls it before the agents, so a repeated run without --force costs nothing.
    """
    posts.ensure_table(engine)
    target = channel or settings.app.slack.channel
    period = period_key(window, settings.app.general.timezone)
    existing = posts.find_post(engine, target, period)
    if existing is not None and existing.status == "posted":
        raise _refusal(existing, target, period)


def _deliver(
    digest: Digest,
    settings: Settings,
    engine: Engine,
    *,
    force: bool,
    channel: str,
    period: str,
    stats: Mapping[str, Any] | None,
    publisher: SlackPublisher,
    now: Callable[[], datetime],
) -> DeliveryResult:
    messages = render_digest(
        digest,
        tz=settings.app.general.timezone,
        votes=settings.app.feedback.buttons,
        reasons=settings.app.slack.show_reason,
    )
    data = digest_to_dict(digest, stats=stats)
    existing = posts.find_post(engine, channel, period)
    channel_id = existing.channel_id if existing else None
    known = list(existing.ts) if existing else []
    action: Action = "posted"
    if existing is not None and existing.status == "posted":
        if not force:
            raise _refusal(existing, channel, period)
        action = "updated"
    elif existing is not None and existing.status == "intent":
        channel_id = channel_id or publisher.channel_id(channel)
        oldest = (existing.intent_at - RECONCILE_MARGIN).timestamp()
        found = publisher.find_parts(channel_id, period=period, oldest=oldest)
        known = found if len(found) >= len(known) else known
        action = "reconciled" if known else "posted"
    rewrite = action == "updated" or existing is None or not _same_digest(existing.digest, data)
    item_ids = [entry.item.id for section in digest.sections for entry in section.entries]
    posts.record_intent(engine, channel=channel, period=period, digest=data, item_ids=item_ids, now=now())
    if channel_id and known:
        posts.record_progress(engine, channel, period, channel_id=channel_id, ts=known)

    def progress(posted: Posted, timestamps: list[str]) -> None:
        posts.record_progress(engine, channel, period, channel_id=posted.channel_id, ts=timestamps)

    try:
        timestamps = publisher.publish(
            channel,
            messages,
            period=period,
            existing=known,
            channel_id=channel_id,
            update_existing=rewrite,
            progress=progress,
        )
    except SlackDeliveryError as exc:
        if not exc.maybe_posted:  # else stay `intent`: the next attempt checks Slack before posting
            posts.mark_failed(engine, channel, period, error=str(exc), now=now())
        raise
    final = posts.find_post(engine, channel, period)
    channel_id = final.channel_id if final and final.channel_id else channel_id
    assert channel_id is not None
    permalink = publisher.permalink(channel_id, timestamps[0])
    posts.mark_posted(
        engine, channel, period, channel_id=channel_id, ts=timestamps, permalink=permalink, now=now()
    )
    chart_id, chart_error = _upload_chart(
        digest,
        settings,
        engine,
        publisher,
        channel=channel,
        period=period,
        thread=(channel_id, timestamps[0]),
        now=now,
    )
    return DeliveryResult(
        action,
        channel,
        channel_id,
        period,
        tuple(timestamps),
        permalink,
        len(messages),
        chart_id,
        chart_error,
    )


CHART = "trends_chart"


def _upload_chart(
    digest: Digest,
    settings: Settings,
    engine: Engine,
    publisher: SlackPublisher,
    *,
    channel: str,
    period: str,
    thread: tuple[str, str],
    now: Callable[[], datetime],
) -> tuple[str | None, str]:
    """Draw and upload the trends chart into the thread once; (file id, error) never raises for it."""
    from digestbot.chart import ChartError, digest_chart

    config = settings.app.trends
    if digest.trends is None or not config.chart_in_thread:
        return None, ""
    channel_id, thread_ts = thread
    if done := uploads.uploaded_file(engine, channel, period, CHART):
        return done, ""
    tz = settings.app.general.timezone
    try:
        png = digest_chart(digest, engine, settings.categories, weeks=config.chart_weeks, tz=tz)
        file_id = publisher.upload(
            channel_id,
            png,
            filename=f"trends-{period}.png",
            title=f"カテゴリ別の採用件数（直近{config.chart_weeks}週）",
            alt_text="カテゴリごとの週別採用件数の棒グラフ",
            thread_ts=thread_ts,
        )
    except (ChartError, SlackDeliveryError) as exc:
        return None, f"the trends chart was not uploaded: {exc}"
    uploads.record_upload(engine, channel=channel, period=period, kind=CHART, file_id=file_id, now=now())
    return file_id, ""


def reconcile_pending(
    settings: Settings,
    store: Engine | str,
    *,
    client: WebClient | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> list[DeliveryResult]:
    """Finish every delivery a crashed run left in `intent` (e.g. at `serve` start-up)."""
    engine, owned = _engine(store)
    try:
        posts.ensure_table(engine)
        return [
            deliver(
                digest_from_dict(row.digest),
                settings,
                engine,
                channel=row.channel,
                period=row.period,
                client=client,
                sleep=sleep,
                clock=clock,
            )
            for row in posts.pending_intents(engine)
        ]
    finally:
        if owned:
            engine.dispose()
