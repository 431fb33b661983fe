"""Follow DM digests: after the weekly post, each member who chose `--dm` gets their matching items.

Called by `deliver` under the (channel, period) posting lease, for weekly periods only (on-demand
periods carry `#`). Each member's DM is idempotent per (user, period): a lease per user and period
(`locks.hold_lock`, so two processes posting the same week to two channels still DM once), then the
`follow_dms` ledger: `sent` is never sent again; `intent` (a run died mid-send) is looked for in the
DM by its metadata marker (`slack/history.py`) before anything is sent. The DM is the weekly
digest's own rendering (escaping, limits) of only the member's items, at most `dm_max_items`.

A failure for one member (`user_not_found`, `cannot_dm_bot`, a rate limit…) is one log line and a
`failed` ledger row; the others are still sent and the channel post is never affected. The whole
batch is owed from before the channel post (`digest_files` row of kind `follow_dms`, like the
chart), so a crash after the post is made up by the next delivery or worker start
(`retry_owed_dms`); a transient failure keeps the debt, a permanent one does not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from digestbot.digest_json import digest_from_dict
from digestbot.domain import Digest, DigestEntry
from digestbot.follows import Audience, Member, Topic, audience, member_entries, topic_label, valid_user_id
from digestbot.locks import hold_lock
from digestbot.posting_guard import LEASE_WAIT
from digestbot.settings import Settings
from digestbot.slack.errors import SlackDeliveryError
from digestbot.slack.escape import clean_inline, clip, link
from digestbot.slack.history import find_digest
from digestbot.slack.publish import SlackPublisher
from digestbot.slack.render import SlackMessage, render_digest
from digestbot.store import digests as posts
from digestbot.store import follow_dms as ledger
from digestbot.store import follows as store
from digestbot.store import uploads

log = logging.getLogger(__name__)

FOLLOW_DMS = "follow_dms"  # the `digest_files` kind recording that a period's DMs are owed
PERMANENT = frozenset(
    {"user_not_found", "user_not_visible", "user_disabled", "cannot_dm_bot", "account_inactive"}
)
RECONCILE_MARGIN = timedelta(minutes=5)
Now = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def is_weekly(period: str) -> bool:
    """On-demand periods (`…#ondemand-3d`) get neither 👀 lines nor DMs: nobody asked to be pinged."""
    return "#" not in period


def dm_marker(period: str) -> str:
    return f"{period}#follow-dm"


def follow_audience(digest: Digest, settings: Settings, engine: Engine, period: str) -> Audience | None:
    """Who each item of a weekly digest is for (None: follows off, or not a weekly period)."""
    if not settings.app.follow.enabled or not is_weekly(period):
        return None
    return dict(audience(digest, store.members(engine))) or None


def _dm_members(settings: Settings, engine: Engine) -> list[Member]:
    return [m for m in store.members(engine) if m.dm and m.topics and valid_user_id(m.user_id)]


def owes_dms(settings: Settings, engine: Engine, period: str) -> bool:
    config = settings.app.follow
    return config.enabled and config.dm and is_weekly(period) and bool(_dm_members(settings, engine))


def record_owed(settings: Settings, engine: Engine, *, channel: str, period: str, now: datetime) -> None:
    """Before the channel post: the period's DMs are owed until `send_follow_dms` is done."""
    if owes_dms(settings, engine, period):
        uploads.record_pending(engine, channel=channel, period=period, kind=FOLLOW_DMS, now=now)


def dm_digest(digest: Digest, picked: list[tuple[DigestEntry, tuple[Topic, ...]]]) -> Digest:
    """The weekly digest cut down to `picked`, in the weekly digest's category order."""
    sections = []
    for section in digest.sections:
        mine = tuple(e for e, _ in picked if e.category == section.category and e in section.entries)
        if mine:
            sections.append(replace(section, entries=mine, total=len(mine)))
    title = f"👀 {digest.title}（あなたのフォロー）"
    return replace(digest, title=title, sections=tuple(sections), trends=None, notes=(), left_out=())


def dm_messages(
    digest: Digest, member: Member, settings: Settings, *, channel: str, permalink: str | None
) -> list[SlackMessage]:
    """The member's DM: the weekly rendering of their items, the first line saying why and where."""
    picked = member_entries(digest, member, settings.app.follow.dm_max_items)
    if not picked:
        return []
    categories = {c.id: c for c in settings.categories}
    topics = dict.fromkeys(t for _, matched in picked for t in matched)
    why = "・".join(topic_label(t, categories) for t in topics)
    where = link(permalink, "チャンネルの投稿") if permalink else clean_inline(channel)
    head = clip(f"あなたのフォロー（{why}）に合う今週の{len(picked)}件です。", 1_000, inline=True)
    line = f"{head} 全体のダイジェスト: {where} ・ 設定は `/digest me`"  # parts escaped; < 1,900
    messages = render_digest(
        dm_digest(digest, picked),
        tz=settings.app.general.timezone,
        votes=settings.app.feedback.buttons,
        reasons=settings.app.slack.show_reason,
    )
    first = messages[0]["blocks"]
    intro = {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}
    if len(first) > 1 and first[1].get("type") == "context":
        first[1] = intro  # the channel's counts line says nothing about this DM
    return messages


@dataclass(frozen=True)
class DmReport:
    sent: tuple[str, ...] = ()  # user ids DMed now (or found already in the DM after a crash)
    failed: tuple[tuple[str, str], ...] = ()  # (user id, Slack error code)


def open_dm(publisher: SlackPublisher, user_id: str) -> str:
    response = publisher.request(
        "conversations.open", user_id, lambda: publisher.client.conversations_open(users=user_id)
    )
    return str((response.get("channel") or {}).get("id") or "")


def _send_one(
    publisher: SlackPublisher,
    engine: Engine,
    member: Member,
    *,
    period: str,
    messages: list[SlackMessage],
    now: Now,
) -> bool:
    """DM one member once for `period`; False when it was already done. Raises SlackDeliveryError."""
    record = ledger.find(engine, member.user_id, period)
    if record is not None and (record.status == "sent" or record.error in PERMANENT):
        return False
    try:
        channel_id = open_dm(publisher, member.user_id)
    except SlackDeliveryError as exc:  # nothing was sent: e.g. user_not_found, cannot_dm_bot
        ledger.mark_failed(engine, member.user_id, period, error=exc.code, now=now())
        raise
    if record is not None and record.status == "intent":
        found = find_digest(
            publisher,
            channel_id,
            period=dm_marker(period),
            oldest=(record.updated_at - RECONCILE_MARGIN).timestamp(),
            latest=(now() + RECONCILE_MARGIN).timestamp(),
        )
        if found.ts:
            ledger.mark_sent(engine, member.user_id, period, channel_id=channel_id, ts=found.ts[0], now=now())
            return True
    ledger.record_intent(engine, member.user_id, period, channel_id=channel_id, now=now())
    try:
        timestamps = publisher.publish(channel_id, messages, period=dm_marker(period))
    except SlackDeliveryError as exc:
        if not exc.maybe_posted:  # else stay `intent`: the next attempt looks in the DM first
            ledger.mark_failed(engine, member.user_id, period, error=exc.code, now=now())
        raise
    ledger.mark_sent(engine, member.user_id, period, channel_id=channel_id, ts=timestamps[0], now=now())
    return True


def send_follow_dms(
    digest: Digest,
    settings: Settings,
    engine: Engine,
    publisher: SlackPublisher,
    *,
    channel: str,
    period: str,
    permalink: str | None,
    now: Now = _utc_now,
) -> DmReport:
    """DM every member who chose `--dm` and has matching items; never raises for one member."""
    sent: list[str] = []
    failed: list[tuple[str, str]] = []
    owed = False
    config = settings.app.follow
    wanted = config.enabled and config.dm and is_weekly(period)
    for member in _dm_members(settings, engine) if wanted else []:
        messages = dm_messages(digest, member, settings, channel=channel, permalink=permalink)
        if not messages:
            continue
        try:
            with hold_lock(engine, f"dm:{member.user_id}:{period}", wait=LEASE_WAIT) as held:
                if not held:
                    raise SlackDeliveryError("another process is sending this DM", code="busy")
                if _send_one(publisher, engine, member, period=period, messages=messages, now=now):
                    sent.append(member.user_id)
        except SlackDeliveryError as exc:
            log.warning("follow DM for %s not sent to %s: %s", period, member.user_id, exc.code)
            failed.append((member.user_id, exc.code))
            owed = owed or exc.code not in PERMANENT
        except Exception as exc:  # one member's DM must never stop the others (logged with its type)
            log.warning("follow DM for %s not sent to %s: %s", period, member.user_id, type(exc).__name__)
            failed.append((member.user_id, type(exc).__name__))
            owed = True
    if not owed and uploads.is_pending(engine, channel, period, FOLLOW_DMS):
        uploads.record_upload(
            engine, channel=channel, period=period, kind=FOLLOW_DMS, file_id="sent", now=now()
        )
    return DmReport(tuple(sent), tuple(failed))


def retry_owed_dms(
    settings: Settings,
    engine: Engine,
    publisher: SlackPublisher,
    *,
    channel: str,
    period: str,
    now: Now = _utc_now,
) -> DmReport:
    """Send the DMs a posted digest still owes (a run died after the post, or Slack was busy)."""
    if not uploads.is_pending(engine, channel, period, FOLLOW_DMS):
        return DmReport()
    post = posts.find_post(engine, channel, period)
    if post is None or post.status != "posted" or not post.digest:
        return DmReport()
    return send_follow_dms(
        digest_from_dict(post.digest),
        settings,
        engine,
        publisher,
        channel=channel,
        period=period,
        permalink=post.permalink,
        now=now,
    )
