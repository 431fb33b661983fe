"""Deciding a delivery: from the ledger row, or (no row) from the channel itself.

`plan` reads the (channel, period) row: `posted` is refused (or, with --force, edited in place);
`intent` (a run died mid-delivery) and no row at all look in the channel for the digest's metadata
marker first (`slack/history.py`), so a crash, a lost store or a new one never posts twice; a digest
found complete with no row is adopted into the ledger. `check_not_posted` is the same question asked
before the agents run. Call both while holding the period's posting lease (`posting_guard.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from sqlalchemy import Engine

from digestbot.delivery_chart import retry_pending_chart
from digestbot.domain import Digest, Window
from digestbot.posting_guard import DeliveryRefused, check_not_future
from digestbot.settings import Settings
from digestbot.slack.errors import SlackDeliveryError
from digestbot.slack.history import FoundDigest, find_digest
from digestbot.slack.publish import SlackPublisher
from digestbot.store import digests as posts

log = logging.getLogger(__name__)

RECONCILE_MARGIN = timedelta(minutes=5)  # clock skew between this host and Slack
Action = Literal["posted", "updated", "reconciled"]


def period_key(window: Window, tz: str = "Asia/Tokyo") -> str:
    """`2026-11-16..2026-11-22`: the local days the digest covers (what `Window.label` shows)."""
    zone = ZoneInfo(tz)
    first = window.start.astimezone(zone).date()
    last = (window.end - timedelta(seconds=1)).astimezone(zone).date()
    return f"{first.isoformat()}..{last.isoformat()}"


def posted_ids(digest: Digest) -> list[str]:
    """The ids of the items the digest shows (recorded with its post)."""
    return [entry.item.id for section in digest.sections for entry in section.entries]


def same_digest(saved: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """The same content: the run's statistics and the time it was generated do not count."""

    def strip(d: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k not in ("stats", "generated_at")}

    return strip(saved) == strip(current)


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
class Plan:
    action: Action
    channel_id: str | None
    known: list[str]  # the parts already in Slack, kept (rewrite=False) or edited
    rewrite: bool


def plan(
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
) -> Plan:
    """Decide from the ledger row, or (no row) from the channel itself; raise when already posted."""
    existing = posts.find_post(engine, channel, period)
    if existing is not None and existing.status == "posted":
        if not force:
            raise _refusal(existing, channel, period)
        return Plan("updated", existing.channel_id, list(existing.ts), rewrite=True)
    if existing is not None:
        changed = not same_digest(existing.digest, data)  # compare content, not when it was generated
        if existing.status == "failed":  # keep the parts recorded, post the rest
            return Plan("posted", existing.channel_id, list(existing.ts), rewrite=changed)
        channel_id = existing.channel_id or publisher.channel_id(channel)  # intent: a run died mid-way
        found = look_in_channel(publisher, channel_id, period=period, since=existing.intent_at, now=now())
        known = list(found.ts) if len(found.ts) >= len(existing.ts) else list(existing.ts)
        return Plan("reconciled" if known else "posted", channel_id, known, rewrite=changed)
    # no row: a new or lost store must not post twice, so look in the channel first
    try:
        channel_id = publisher.channel_id(channel)
        found = look_in_channel(publisher, channel, period=period, since=digest.window.start, now=now())
    except SlackDeliveryError as exc:  # nothing was posted: record the attempt as failed, say why
        item_ids = posted_ids(digest)
        posts.record_intent(engine, channel=channel, period=period, digest=data, item_ids=item_ids, now=now())
        posts.mark_failed(engine, channel, period, error=str(exc), now=now())
        raise
    if found.slack_now is not None:  # this host's clock may be ahead: Slack's decides too
        check_not_future(digest.window, found.slack_now, settings.app.general.timezone)
    if found.complete:
        item_ids = posted_ids(digest)
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
        return Plan("updated", channel_id, list(found.ts), rewrite=True)
    if found.ts:  # half posted before the store was lost: keep those parts, post the rest
        return Plan("reconciled", channel_id, list(found.ts), rewrite=False)
    return Plan("posted", None, [], rewrite=True)  # posted by name: Slack's errors name it so


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
