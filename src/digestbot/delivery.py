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

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from sqlalchemy import Engine

from digestbot.delivery_chart import CHART, retry_pending_chart, upload_chart, wants_chart
from digestbot.digest_json import digest_from_dict, digest_to_dict, digests_dir, write_json
from digestbot.domain import Digest, Window
from digestbot.posting_guard import (
    DeliveryBusy,
    DeliveryRefused,
    FuturePeriod,
    check_not_future,
    posting_lease,
)
from digestbot.settings import Settings
from digestbot.slack.errors import SlackDeliveryError
from digestbot.slack.history import FoundDigest, find_digest
from digestbot.slack.publish import Posted, SlackPublisher
from digestbot.slack.render import render_digest
from digestbot.slack.retry import Clock, Sleep
from digestbot.store import digests as posts
from digestbot.store import uploads
from digestbot.store.schema import open_engine

log = logging.getLogger(__name__)

BLOCKS = "blocks.json"
RECONCILE_MARGIN = timedelta(minutes=5)  # clock skew between this host and Slack

Action = Literal["posted", "updated", "reconciled"]


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
    """The same content: the run's statistics and the time it was generated do not count."""

    def strip(d: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k not in ("stats", "generated_at")}

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
        target = channel or settings.app.slack.channel
        key = period or period_key(digest.window, settings.app.general.timezone)
        check_not_future(digest.window, now(), settings.app.general.timezone)
        publisher = SlackPublisher.from_settings(settings, client=client, sleep=sleep, clock=clock)
        with posting_lease(engine, target, key):
            retry_pending_chart(settings, engine, publisher, channel=target, period=key, now=now)
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


def _refusal(
    existing: posts.DigestPost, channel: str, period: str, *, found: bool = False
) -> DeliveryRefused:
    where = existing.permalink or f"{channel}, ts {existing.ts[0] if existing.ts else '?'}"
    how = " (found in the channel; the store had no record of it)" if found else ""
    return DeliveryRefused(
        f"the digest for {period} was already posted to {channel} ({where}){how}: "
        "run again with --force to update that message in place",
        permalink=existing.permalink,
    )


def look_in_channel(
    publisher: SlackPublisher, channel: str, *, period: str, since: datetime, now: datetime
) -> FoundDigest:
    """The period's digest in `channel`, posted between `since` and now (± the margin)."""
    return find_digest(
        publisher,
        publisher.channel_id(channel),
        period=period,
        oldest=(since - RECONCILE_MARGIN).timestamp(),
        latest=(now + RECONCILE_MARGIN).timestamp(),
        name=channel,
    )


def check_not_posted(
    settings: Settings,
    engine: Engine,
    window: Window,
    *,
    channel: str | None = None,
    client: WebClient | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Raise `DeliveryRefused` if this period's digest is already in the channel.

    `run` calls it (holding the posting lease) before the agents, so a repeated run without
    --force costs nothing: the store is asked first, then, when it has no row, the channel itself.
    A chart still owed to a posted digest is uploaded on the way.
    """
    posts.ensure_table(engine)
    target = channel or settings.app.slack.channel
    period = period_key(window, settings.app.general.timezone)
    existing = posts.find_post(engine, target, period)
    if existing is not None and existing.status == "posted":
        publisher = SlackPublisher.from_settings(settings, client=client)
        retry_pending_chart(settings, engine, publisher, channel=target, period=period, now=now)
        raise _refusal(existing, target, period)
    if existing is None:
        publisher = SlackPublisher.from_settings(settings, client=client)
        try:
            found = look_in_channel(publisher, target, period=period, since=window.start, now=now())
        except SlackDeliveryError as exc:  # deliver() looks again before posting; the digest is kept
            log.warning("could not look in %s for an earlier %s digest yet: %s", target, period, exc)
            return
        if found.complete:
            where = publisher.permalink(publisher.channel_id(target), found.ts[0])
            raise DeliveryRefused(
                f"the digest for {period} was already posted to {target} ({where or found.ts[0]}; "
                "found in the channel, the store had no record of it): "
                "run again with --force to update it in place",
                permalink=where,
            )


@dataclass(frozen=True)
class _Plan:
    action: Action
    channel_id: str | None
    known: list[str]  # the parts already in Slack, kept (rewrite=False) or edited
    rewrite: bool


def _plan(
    digest: Digest,
    settings: Settings,
    engine: Engine,
    publisher: SlackPublisher,
    *,
    channel: str,
    period: str,
    force: bool,
    data: dict[str, Any],
    now: Callable[[], datetime],
) -> _Plan:
    """Decide from the ledger row, or (no row) from the channel itself; raise when already posted."""
    existing = posts.find_post(engine, channel, period)
    if existing is not None and existing.status == "posted":
        if not force:
            raise _refusal(existing, channel, period)
        return _Plan("updated", existing.channel_id, list(existing.ts), rewrite=True)
    if existing is not None:
        changed = not _same_digest(existing.digest, data)  # compare content, not when it was generated
        if existing.status == "failed":  # keep the parts recorded, post the rest
            return _Plan("posted", existing.channel_id, list(existing.ts), rewrite=changed)
        channel_id = existing.channel_id or publisher.channel_id(channel)  # intent: a run died mid-way
        found = look_in_channel(publisher, channel_id, period=period, since=existing.intent_at, now=now())
        known = list(found.ts) if len(found.ts) >= len(existing.ts) else list(existing.ts)
        return _Plan("reconciled" if known else "posted", channel_id, known, rewrite=changed)
    # no row: a new or lost store must not post twice, so look in the channel first
    try:
        channel_id = publisher.channel_id(channel)
        found = look_in_channel(publisher, channel, period=period, since=digest.window.start, now=now())
    except SlackDeliveryError as exc:  # nothing was posted: record the attempt as failed, say why
        item_ids = [entry.item.id for section in digest.sections for entry in section.entries]
        posts.record_intent(engine, channel=channel, period=period, digest=data, item_ids=item_ids, now=now())
        posts.mark_failed(engine, channel, period, error=str(exc), now=now())
        raise
    if found.slack_now is not None:  # this host's clock may be ahead: Slack's decides too
        check_not_future(digest.window, found.slack_now, settings.app.general.timezone)
    if found.complete:
        item_ids = [entry.item.id for section in digest.sections for entry in section.entries]
        adopted = _adopt(
            engine,
            publisher,
            channel=channel,
            period=period,
            data=data,
            item_ids=item_ids,
            channel_id=channel_id,
            found=found,
            now=now,
        )
        if not force:
            raise _refusal(adopted, channel, period, found=True)
        return _Plan("updated", channel_id, list(found.ts), rewrite=True)
    if found.ts:  # half posted before the store was lost: keep those parts, post the rest
        return _Plan("reconciled", channel_id, list(found.ts), rewrite=False)
    return _Plan("posted", None, [], rewrite=True)  # posted by name: Slack's errors name it so


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
    item_ids = [entry.item.id for section in digest.sections for entry in section.entries]
    plan = _plan(
        digest, settings, engine, publisher, channel=channel, period=period, force=force, data=data, now=now
    )
    action, channel_id, known, rewrite = plan.action, plan.channel_id, plan.known, plan.rewrite
    posts.record_intent(engine, channel=channel, period=period, digest=data, item_ids=item_ids, now=now())
    if wants_chart(digest, settings):  # owed until uploaded: a crash after the post is retried later
        uploads.record_pending(engine, channel=channel, period=period, kind=CHART, now=now())
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


def _adopt(
    engine: Engine,
    publisher: SlackPublisher,
    *,
    channel: str,
    period: str,
    data: dict[str, Any],
    item_ids: list[str],
    channel_id: str,
    found: FoundDigest,
    now: Callable[[], datetime],
) -> posts.DigestPost:
    """Record a digest found complete in the channel as posted (so --force edits it in place)."""
    posts.record_intent(engine, channel=channel, period=period, digest=data, item_ids=item_ids, now=now())
    permalink = publisher.permalink(channel_id, found.ts[0])
    posts.mark_posted(
        engine, channel, period, channel_id=channel_id, ts=found.ts, permalink=permalink, now=now()
    )
    adopted = posts.find_post(engine, channel, period)
    assert adopted is not None
    return adopted


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
