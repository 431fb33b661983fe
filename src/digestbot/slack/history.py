"""Find a digest already in the channel by its metadata marker (conversations.history/replies).

Used before posting a (channel, period) the store knows nothing about (a lost or new store, a
switch from SQLite to PostgreSQL) and after a crash mid-delivery. History is read between `oldest`
and `latest`, newest first, paginated by cursor and bounded (`MAX_PAGES` × `PAGE_SIZE` top-level
messages), with `include_all_metadata=true` (without it Slack leaves `metadata` out). Needs the
`channels:history` / `groups:history` scopes.

Slack's clock comes with the answer (the `Date` header), so the caller can tell a host whose clock
jumped ahead from a period that really is over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from slack_sdk.web import SlackResponse

from digestbot.slack.publish import EVENT_TYPE, SlackPublisher

PAGE_SIZE = 200  # Slack recommends at most 200 per page
MAX_PAGES = 25  # 5,000 top-level messages: a digest channel's weeks, never an unbounded walk


@dataclass(frozen=True)
class FoundDigest:
    ts: tuple[str, ...]  # the unbroken run of parts 1..k found, parent first (empty: none)
    parts: int  # how many parts the digest in the channel says it has (0: none found)
    slack_now: datetime | None  # Slack's clock when it answered (None: no Date header)

    @property
    def complete(self) -> bool:
        return bool(self.ts) and len(self.ts) >= self.parts


def marked_part(message: Mapping[str, Any], period: str) -> tuple[int, int] | None:
    """(part, parts) of a message carrying our marker for `period`, else None."""
    meta = message.get("metadata") or {}
    payload = meta.get("event_payload") or {}
    if meta.get("event_type") != EVENT_TYPE or payload.get("period") != period:
        return None
    part, parts = payload.get("part"), payload.get("parts")
    return (part, parts if isinstance(parts, int) else 0) if isinstance(part, int) else None


def _slack_now(response: SlackResponse) -> datetime | None:
    date = next((v for k, v in (response.headers or {}).items() if k.lower() == "date"), None)
    value = date[0] if isinstance(date, list) and date else date
    try:
        return parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError):
        return None


def find_digest(
    publisher: SlackPublisher,
    channel_id: str,
    *,
    period: str,
    oldest: float,
    latest: float,
    name: str = "",
) -> FoundDigest:
    """The parts of the `period` digest posted in `channel_id` between `oldest` and `latest`
    (errors name the channel as `name`, e.g. the configured `#llm-digest`)."""
    cursor, parent, slack_now = "", None, None
    for _ in range(MAX_PAGES):
        page = _history_page(publisher, (channel_id, name or channel_id), oldest, latest, cursor)
        slack_now = slack_now or _slack_now(page)
        messages = page.get("messages") or []
        parent = next((m for m in messages if (marked_part(m, period) or (0, 0))[0] == 1), None)
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
        if parent is not None or not page.get("has_more") or not cursor:
            break
    if parent is None:
        return FoundDigest((), 0, slack_now)
    found = {1: str(parent["ts"])}
    parts = (marked_part(parent, period) or (1, 1))[1]
    if parent.get("reply_count"):
        found |= _replies(publisher, (channel_id, name or channel_id), str(parent["ts"]), period)
    ordered = []
    for part in range(1, len(found) + 1):  # keep only the unbroken run 1..k
        if part not in found:
            break
        ordered.append(found[part])
    return FoundDigest(tuple(ordered), max(parts, 1), slack_now)


def _history_page(
    publisher: SlackPublisher, channel: tuple[str, str], oldest: float, latest: float, cursor: str
) -> SlackResponse:
    channel_id, name = channel
    return publisher.request(
        "conversations.history",
        name,
        lambda: publisher.client.conversations_history(
            channel=channel_id,
            oldest=f"{oldest:.6f}",
            latest=f"{latest:.6f}",
            include_all_metadata=True,
            limit=PAGE_SIZE,
            cursor=cursor or None,
        ),
    )


def _replies(
    publisher: SlackPublisher, channel: tuple[str, str], parent_ts: str, period: str
) -> dict[int, str]:
    found: dict[int, str] = {}
    cursor = ""
    for _ in range(MAX_PAGES):
        thread = _replies_page(publisher, channel, parent_ts, cursor)
        for reply in thread.get("messages") or []:
            if str(reply.get("ts")) == parent_ts:
                continue
            mark = marked_part(reply, period)
            if mark is not None and mark[0] > 1:
                found.setdefault(mark[0], str(reply["ts"]))
        cursor = (thread.get("response_metadata") or {}).get("next_cursor") or ""
        if not thread.get("has_more") or not cursor:
            break
    return found


def _replies_page(
    publisher: SlackPublisher, channel: tuple[str, str], parent_ts: str, cursor: str
) -> SlackResponse:
    channel_id, name = channel
    return publisher.request(
        "conversations.replies",
        name,
        lambda: publisher.client.conversations_replies(
            channel=channel_id,
            ts=parent_ts,
            include_all_metadata=True,
            limit=PAGE_SIZE,
            cursor=cursor or None,
        ),
    )
