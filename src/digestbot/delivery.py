"""Deliver a digest to Slack exactly once per (channel, period).

Everything below runs under the period's posting lease (`posting_guard.py`: a second process waits,
then gets `DeliveryBusy`) and only for a period that is over (`FuturePeriod` otherwise). The flow,
decided per existing `digest_posts` row (`delivery_plan.py`):

* none: look in the channel first (the store may be lost or new): a digest found complete is
  adopted and refused like `posted`; else record the intent, post (first message, then thread
  replies), record each ts as Slack answers, then mark posted with the permalink.
* `posted`: refuse with `DeliveryRefused` (naming the permalink and `--force`); with `force=True`
  the messages are edited in place with chat.update (extra parts are added to the thread, parts no
  longer needed are blanked), so a channel never gets a second copy.
* `intent` (a run died mid-delivery): look in the channel first (conversations.history from the
  intent time, matching the period marker in message metadata) and adopt what is there; only the
  parts not found are posted.
* `failed`: the recorded parts are kept and only the rest is posted.

A weekly digest with a trends section then gets its chart (PNG) uploaded into the thread, once per
channel and period (`delivery_chart.py`): recorded as owed before the post, so a crash after it is
made up by the next delivery; a chart that cannot be drawn or uploaded is reported in the result,
never fails the delivery of the digest itself.

A failure marks the row `failed` (or leaves it `intent` when the post may have reached Slack) and
re-raises `SlackDeliveryError`; the digest itself stays in the store and in latest.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine

from digestbot.delivery_chart import CHART, retry_pending_chart, upload_chart, wants_chart
from digestbot.delivery_plan import (
    Action,
    check_not_posted,
    period_key,
    posted_ids,
)
from digestbot.delivery_plan import plan as decide
from digestbot.digest_json import digest_from_dict, digest_to_dict, digests_dir, write_json
from digestbot.domain import Digest
from digestbot.follow_dm import (
    FOLLOW_DMS,
    DmReport,
    follow_audience,
    record_owed,
    retry_owed_dms,
    send_follow_dms,
)
from digestbot.posting_guard import (
    DeliveryBusy,
    DeliveryRefused,
    FuturePeriod,
    check_not_future,
    posting_lease,
)
from digestbot.settings import Settings
from digestbot.slack.errors import SlackDeliveryError
from digestbot.slack.publish import Posted, SlackPublisher
from digestbot.slack.render import render_digest
from digestbot.slack.retry import Clock, Sleep
from digestbot.store import digests as posts
from digestbot.store import uploads
from digestbot.store.schema import open_engine

BLOCKS = "blocks.json"


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
    follow_dms: DmReport = field(default_factory=DmReport)  # the followers' DM digests (`follow_dm.py`)


def save_blocks(digest: Digest, settings: Settings, path: Path | None = None) -> Path:
    """Write the exact chat.postMessage payloads (`--dry-run`): default `<data_dir>/digests/blocks.json`."""
    messages = render_digest(
        digest,
        tz=settings.app.general.timezone,
        votes=settings.app.feedback.buttons,
        fixes=settings.app.corrections.enabled,
        reasons=settings.app.slack.show_reason,
    )
    return write_json(path or digests_dir(settings) / BLOCKS, messages)


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
        target = channel or settings.app.slack.channel
        key = period or period_key(digest.window, settings.app.general.timezone)
        check_not_future(digest.window, now(), settings.app.general.timezone)
        publisher = SlackPublisher.from_settings(settings, client=client, sleep=sleep, clock=clock)
        with posting_lease(engine, target, key):
            retry_pending_chart(settings, engine, publisher, channel=target, period=key, now=now)
            retry_owed_dms(settings, engine, publisher, channel=target, period=key, now=now)
            return _deliver(
                digest,
                settings,
                engine,
                force=force,
                channel=target,
                period=key,
                stats=stats,
                publisher=publisher,
                now=now,
            )
    finally:
        if owned:
            engine.dispose()


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
        fixes=settings.app.corrections.enabled,
        reasons=settings.app.slack.show_reason,
        audience=follow_audience(digest, settings, engine, period),
        follow=settings.app.follow,
    )
    data = digest_to_dict(digest, stats=stats)
    item_ids = posted_ids(digest)
    plan = decide(
        digest, settings, engine, publisher, channel=channel, period=period, force=force, data=data, now=now
    )
    action, channel_id, known, rewrite = plan.action, plan.channel_id, plan.known, plan.rewrite
    posts.record_intent(engine, channel=channel, period=period, digest=data, item_ids=item_ids, now=now())
    if wants_chart(digest, settings):  # owed until uploaded: a crash after the post is retried later
        uploads.record_pending(engine, channel=channel, period=period, kind=CHART, now=now())
    record_owed(settings, engine, channel=channel, period=period, now=now())  # the followers' DMs
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
    chart_id, chart_error = upload_chart(
        digest,
        settings,
        engine,
        publisher,
        channel=channel,
        period=period,
        thread=(channel_id, timestamps[0]),
        now=now,
    )
    dms = send_follow_dms(
        digest, settings, engine, publisher, channel=channel, period=period, permalink=permalink, now=now
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
        dms,
    )


def reconcile_pending(
    settings: Settings,
    store: Engine | str,
    *,
    client: WebClient | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> list[DeliveryResult]:
    """Finish every delivery a crashed run left in `intent`, and upload every chart still owed to a
    posted digest (e.g. at `serve` start-up)."""
    engine, owned = _engine(store)
    try:
        posts.ensure_table(engine)
        owed = uploads.pending_uploads(engine, CHART)
        if owed:
            publisher = SlackPublisher.from_settings(settings, client=client, sleep=sleep, clock=clock)
            for channel, period in owed:
                with posting_lease(engine, channel, period):
                    retry_pending_chart(settings, engine, publisher, channel=channel, period=period)
        dms_owed = uploads.pending_uploads(engine, FOLLOW_DMS)
        if dms_owed:
            publisher = SlackPublisher.from_settings(settings, client=client, sleep=sleep, clock=clock)
            for channel, period in dms_owed:
                with posting_lease(engine, channel, period):
                    retry_owed_dms(settings, engine, publisher, channel=channel, period=period)
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


__all__ = [
    "DeliveryBusy",
    "DeliveryRefused",
    "DeliveryResult",
    "FuturePeriod",
    "check_not_posted",
    "deliver",
    "period_key",
    "reconcile_pending",
    "save_blocks",
]
