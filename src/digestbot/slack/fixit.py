"""要約を直す / カテゴリを直す: the overflow menu under each digest item, its modals, their submissions.

Every listener acks first. The menu checks who asks (members of the digest's channel or
`[corrections] allowed_users`, see `fixit_access.py`) and opens the modal with the trigger_id;
a submission is acked (the modal closes) and the work runs afterwards as a background task
(`fixit_apply.py`), which answers the user ephemerally in one line. The target travels in the
modal's private_metadata and is validated and authorized again on submit.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError

from digestbot.corrections import clean_note
from digestbot.feedback import hash_user
from digestbot.settings import Settings
from digestbot.slack import fixit_views as views
from digestbot.slack.escape import clean
from digestbot.slack.fixit_apply import FixFailed, Request, current_entry, fix_blurb, fix_category, run_fix
from digestbot.slack.render import FIX_ACTION, FIX_BLURB, FIX_CATEGORY
from digestbot.slack.services import BotServices, services_of

log = logging.getLogger(__name__)

REFUSED = "この操作はダイジェストのチャンネルのメンバー（または設定で許可された人）だけができます。"
OFF = "ダイジェストの修正は無効になっています（[corrections] enabled）。"
UNREADABLE = "この操作は読み取れませんでした。"
NO_CHECK = "チャンネルのメンバーを確認できなかったため、操作できませんでした（{code}）。"


def register(app: AsyncApp) -> None:
    app.action(FIX_ACTION)(on_menu)
    app.view(views.BLURB_VIEW)(on_blurb)
    app.view(views.CATEGORY_VIEW)(on_category)


def _user(body: dict[str, Any]) -> tuple[str, str]:
    user = body.get("user") or {}
    team = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    return str(user.get("id") or ""), str(team)


async def _refusal(services: BotServices, client: Any, settings: Settings, channel: str, user: str) -> str:
    """ "" when the user may fix the digest in this channel, else the answer."""
    if not settings.app.corrections.enabled:
        return OFF
    try:
        allowed = await services.fixit.may_fix(client, settings, channel, user)
    except SlackApiError as exc:
        return NO_CHECK.format(code=exc.response.get("error", ""))
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        return NO_CHECK.format(code=type(exc).__name__)
    return "" if allowed else REFUSED


async def on_menu(ack: Any, body: dict[str, Any], client: Any, respond: Any, context: Any) -> None:
    await ack()
    services = services_of(context)
    user, _ = _user(body)
    action = (body.get("actions") or [{}])[0]
    message = body.get("message") or {}
    container = body.get("container") or {}
    target = views.valid_target(
        (body.get("channel") or {}).get("id"),
        message.get("ts") or container.get("message_ts"),
        message.get("thread_ts") or container.get("thread_ts") or "",
        str(action.get("block_id") or "").removeprefix("vote:"),
    )
    choice = (action.get("selected_option") or {}).get("value")

    async def tell(text: str) -> None:
        await respond(text=clean(text), response_type="ephemeral", replace_original=False)

    if target is None or not user or choice not in (FIX_BLURB, FIX_CATEGORY):
        await tell(UNREADABLE)
        return
    settings = await services.blocking(services.config.current)
    if refusal := await _refusal(services, client, settings, target.channel, user):
        await tell(refusal)
        return
    try:
        entry = await services.blocking(current_entry, services, settings, target)
    except FixFailed as exc:
        await tell(str(exc))
        return
    if choice == FIX_BLURB:
        view = views.blurb_modal(target, entry.item.title, max_chars=settings.app.corrections.note_max_chars)
    else:
        view = views.category_modal(target, entry.item.title, settings.categories, entry.category)
    try:
        await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
    except SlackApiError as exc:
        log.warning("fix: views.open failed: %s", exc.response.get("error"))
        code = exc.response.get("error", "")
        await tell(f"修正の画面を開けませんでした（{code}）。もう一度メニューから選んでください。")


async def _submission(
    ack: Any, body: dict[str, Any], view: dict[str, Any], client: Any, context: Any, *, blurb: bool
) -> None:
    block, action = (
        (views.NOTE_BLOCK, views.NOTE_ACTION) if blurb else (views.CATEGORY_BLOCK, views.CATEGORY_ACTION)
    )
    target = views.parse_target(view.get("private_metadata"))
    user, team = _user(body)
    raw = views.submitted(view, block, action)
    if target is None or not user:
        await ack(response_action="errors", errors={block: UNREADABLE})
        return
    if not clean_note(raw, 1):  # nothing but spaces or control characters
        await ack(
            response_action="errors", errors={block: "入力してください。" if blurb else "選んでください。"}
        )
        return
    await ack()  # the modal closes; everything below runs after the ack
    services = services_of(context)

    async def tell(text: str) -> None:
        try:
            await client.chat_postEphemeral(channel=target.channel, user=user, text=clean(text))
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("fix: could not answer the user: %s", type(exc).__name__)

    async def work() -> None:
        settings = await services.blocking(services.config.current)
        value = clean_note(raw, settings.app.corrections.note_max_chars) if blurb else raw
        if refusal := await _refusal(services, client, settings, target.channel, user):
            await tell(refusal)
            return
        salt = settings.secrets.digestbot_feedback_salt
        hashed = hash_user(team, user, salt.get_secret_value() if salt else "")
        request = Request(target, user, hashed)
        fix = fix_blurb if blurb else fix_category
        await run_fix(tell, fix(services, client, settings, request, value))

    services.tasks.spawn(work())


async def on_blurb(ack: Any, body: dict[str, Any], view: dict[str, Any], client: Any, context: Any) -> None:
    await _submission(ack, body, view, client, context, blurb=True)


async def on_category(
    ack: Any, body: dict[str, Any], view: dict[str, Any], client: Any, context: Any
) -> None:
    await _submission(ack, body, view, client, context, blurb=False)
