"""The work behind 要約を直す / カテゴリを直す, after the ack: re-read, re-write, chat.update, record.

Per message, one fix at a time (`FixState.message_lock`), and the message is read again from Slack
inside the lock, so two fixes of one message never lose one another. The item must be in a digest
we archived (`store.digests.post_of_message`) and still in the message. Any Slack error, a rewrite
that fails the judge or the guards, or an edit beyond Slack's limits: nothing is updated and the
user gets one ephemeral line saying why. Users are recorded only as hashes (`feedback.hash_user`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from digestbot.corrections import rewrite_blurb
from digestbot.digest_json import DigestFileError, digest_from_dict
from digestbot.domain import DigestEntry
from digestbot.settings import Category, Settings
from digestbot.slack.fixit_views import Target
from digestbot.slack.message_edit import EditRefused, move_or_relabel, replace_section
from digestbot.slack.render import item_text
from digestbot.slack.services import BotServices
from digestbot.store import corrections as store
from digestbot.store.digests import post_of_message

log = logging.getLogger(__name__)

MAX_REPLY_PAGES = 20
Tell = Callable[[str], Awaitable[None]]


class FixFailed(Exception):
    """A fix that cannot go ahead; `str()` is the one line the user reads."""


def slack_problem(exc: Exception) -> str:
    code = exc.response.get("error", "") if isinstance(exc, SlackApiError) else type(exc).__name__
    return (
        f"Slack がエラーを返したため、メッセージは変更していません（{code}）。"
        "少し待ってからもう一度お試しください。"
    )


@dataclass(frozen=True)
class Request:
    """One submitted fix: what, by whom (Slack id: only its hash is stored)."""

    target: Target
    user: str
    user_hash: str  # what is stored (`feedback.hash_user`)


async def read_message(client: Any, target: Target) -> dict[str, Any]:
    """The message as Slack has it now (a thread reply through conversations.replies)."""
    if not target.thread_ts:
        found = await client.conversations_history(
            channel=target.channel, latest=target.ts, oldest=target.ts, inclusive=True, limit=1
        )
        messages = list(found.get("messages") or [])
    else:
        messages, cursor = [], None
        for _ in range(MAX_REPLY_PAGES):
            page = await client.conversations_replies(
                channel=target.channel, ts=target.thread_ts, cursor=cursor, limit=200
            )
            messages.extend(page.get("messages") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None or any(m.get("ts") == target.ts for m in messages):
                break
    message = next((m for m in messages if m.get("ts") == target.ts), None)
    if message is None or not isinstance(message.get("blocks"), list):
        raise FixFailed("このメッセージが見つからないため、修正できませんでした。")
    return dict(message)


def archived_entry(services: BotServices, settings: Settings, target: Target) -> DigestEntry:
    """The item as it was posted (blocking: the store)."""
    engine = services.engine(settings.store_url)
    post = post_of_message(engine, target.channel, target.ts)
    if post is None:
        raise FixFailed("このメッセージは digestbot が投稿したダイジェストとして見つかりませんでした。")
    try:
        digest = digest_from_dict(post.digest)
    except DigestFileError:
        raise FixFailed("保存されたダイジェストが読めないため、修正できませんでした。") from None
    for section in digest.sections:
        for entry in section.entries:
            if entry.item.id == target.item_id:
                return entry
    raise FixFailed("この記事は保存されたダイジェストに見つかりませんでした。")


def current_entry(services: BotServices, settings: Settings, target: Target) -> DigestEntry:
    """The archived entry with the blurb and category corrections made since (blocking)."""
    entry = archived_entry(services, settings, target)
    engine = services.engine(settings.store_url)
    blurb = store.current_blurb(engine, target.item_id, target.channel, target.ts)
    category = store.current_category(engine, target.item_id)
    return dataclasses.replace(entry, blurb=blurb or entry.blurb, category=category or entry.category)


def category_of(settings: Settings, category_id: str) -> Category | None:
    return next((c for c in settings.categories if c.id == category_id), None)


async def _update(client: Any, target: Target, message: dict[str, Any], blocks: list[Any]) -> None:
    await client.chat_update(
        channel=target.channel, ts=target.ts, text=message.get("text") or "", blocks=blocks
    )


async def fix_blurb(
    services: BotServices, client: Any, settings: Settings, request: Request, note: str
) -> str:
    """Re-write the blurb with the note; the answer for the user. Raises FixFailed (nothing updated)."""
    target = request.target
    async with services.fixit.message_lock(target.channel, target.ts):
        message = await read_message(client, target)
        entry = await services.blocking(current_entry, services, settings, target)
        category = category_of(settings, entry.category) or settings.categories[0]
        agents = services.fixit.make_agents(settings)
        rewrite = await rewrite_blurb(
            agents, entry.item, old_blurb=entry.blurb, note=note, category=category, settings=settings
        )

        def record(status: str, new_blurb: str, reason: str) -> None:
            row = store.BlurbCorrection(
                item_id=target.item_id,
                user_hash=request.user_hash,
                channel_id=target.channel,
                message_ts=target.ts,
                note=note,
                old_blurb=entry.blurb,
                new_blurb=new_blurb,
                status=status,
                reason=reason,
            )
            store.add_blurb_correction(services.engine(settings.store_url), row, services.now())

        if rewrite.status != "applied":
            await services.blocking(record, rewrite.status, rewrite.blurb, rewrite.reason)
            raise FixFailed(
                f"{rewrite.reason}。メッセージは変更していません。メモを具体的にして、もう一度お試しください。"
            )
        text = item_text(dataclasses.replace(entry, blurb=rewrite.blurb), settings.app.general.timezone)
        try:
            blocks = replace_section(message["blocks"], target.item_id, text)
        except EditRefused as exc:
            raise FixFailed(
                f"新しい要約ではメッセージが Slack の上限を超えるため、変更していません（{exc}）。"
            ) from None
        await _update(client, target, message, blocks)
        await services.blocking(record, "applied", rewrite.blurb, "")
    return "✏️ 要約を書き直しました（チェック済み）。元の要約と指摘は記録しました。"


async def fix_category(
    services: BotServices, client: Any, settings: Settings, request: Request, chosen: str
) -> str:
    """Move (or relabel) the item and store the correction; the answer. Raises FixFailed."""
    target = request.target
    right = category_of(settings, chosen)
    if right is None:
        raise FixFailed("そのカテゴリは設定にありません。もう一度メニューから選んでください。")
    async with services.fixit.message_lock(target.channel, target.ts):
        message = await read_message(client, target)
        entry = await services.blocking(current_entry, services, settings, target)
        if entry.category == right.id:
            return f"この記事はすでに「{right.name}」です。"
        try:
            blocks, moved = move_or_relabel(
                message["blocks"], target.item_id, category=right.id, emoji=right.emoji, name=right.name
            )
        except EditRefused as exc:
            raise FixFailed(f"メッセージを更新できないため、変更していません（{exc}）。") from None
        await _update(client, target, message, blocks)
        row = store.CategoryCorrection(
            item_id=target.item_id,
            title=entry.item.title,
            old_category=entry.category,
            new_category=right.id,
            user_hash=request.user_hash,
            channel_id=target.channel,
            message_ts=target.ts,
        )
        await services.blocking(
            store.add_category_correction, services.engine(settings.store_url), row, services.now()
        )
    where = "に移しました" if moved else "に直しました（このメッセージにそのカテゴリの欄はありません）"
    return f"🏷️ 「{right.name}」{where}。今後の分類の例として使います。"


async def run_fix(tell: Tell, work: Awaitable[str]) -> None:
    """Run one fix and tell the user how it went, in one line; every failure fails closed."""
    try:
        answer = await work
    except FixFailed as exc:
        answer = str(exc)
    except SlackClientError as exc:
        log.warning("fix: Slack error %s", type(exc).__name__)
        answer = slack_problem(exc)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        log.warning("fix: cannot reach Slack: %s", type(exc).__name__)
        answer = slack_problem(exc)
    await tell(answer)
