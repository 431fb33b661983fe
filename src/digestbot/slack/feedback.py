"""👍/👎 under each digest item: Bolt action listeners that record the vote and answer the voter.

Ack first; the store write runs off the event loop. The voter is stored only as a hash (see
`feedback.py`); voting again changes the vote. The answer is ephemeral (only the voter sees it).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.app.async_app import AsyncApp

from digestbot.feedback import hash_user, record_vote
from digestbot.slack.render import VOTE_DOWN, VOTE_UP
from digestbot.slack.services import services_of

log = logging.getLogger(__name__)

ANSWERS = {
    "recorded": "{emoji} を記録しました。今後のダイジェストの選定に反映します（押し直すと変更できます）",
    "changed": "{emoji} に変更しました",
    "unchanged": "{emoji} は記録済みです",
}


def parse_value(value: str) -> tuple[str, str] | None:
    """(item id, category) from a button's value, or None when it is not ours."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("item"), str) or not data["item"]:
        return None
    return data["item"], str(data.get("category") or "")


def register(app: AsyncApp) -> None:
    app.action(VOTE_UP)(on_vote)
    app.action(VOTE_DOWN)(on_vote)


async def on_vote(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
    await ack()
    services = services_of(context)
    up = action.get("action_id") == VOTE_UP
    emoji = "👍" if up else "👎"
    parsed = parse_value(str(action.get("value") or ""))
    user = body.get("user") or {}
    if parsed is None or not user.get("id"):
        log.warning("vote ignored: unreadable button value or no user")
        await respond(
            text="この投票は読み取れませんでした。", response_type="ephemeral", replace_original=False
        )
        return
    item_id, category = parsed
    team = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    settings = await services.blocking(services.config.current)
    salt = settings.secrets.digestbot_feedback_salt
    engine = await services.blocking(services.engine, settings.store_url)
    outcome = await services.blocking(
        record_vote,
        engine,
        item_id=item_id,
        category=category,
        user_hash=hash_user(team, user["id"], salt.get_secret_value() if salt else ""),
        up=up,
        now=services.now(),
        channel_id=(body.get("channel") or {}).get("id", ""),
        message_ts=(body.get("message") or {}).get("ts", ""),
    )
    await respond(
        text=ANSWERS[outcome].format(emoji=emoji), response_type="ephemeral", replace_original=False
    )
