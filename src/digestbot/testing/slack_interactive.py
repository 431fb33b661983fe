"""Interactive payloads as Slack sends them to the app's Request URL: form-encoded, signed (v0).

`signed(payload, secret)` is the POST (an `AsyncBoltRequest` for `app.async_dispatch`);
`menu_choice(...)` a block_actions payload for an overflow menu of a posted message, with a fresh
trigger_id from the `SlackServer`; `submission(view, values, ...)` the view_submission of a modal
that views.open opened, with what the user typed or chose.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from slack_bolt.request.async_request import AsyncBoltRequest

if TYPE_CHECKING:
    from digestbot.testing.slack_server import SlackServer

TEAM = {"id": "T0DIGEST", "domain": "digest"}


def signed(payload: dict[str, Any], secret: str, *, timestamp: int | None = None) -> AsyncBoltRequest:
    """The POST Slack makes: `payload=<json>` form-encoded, `x-slack-signature` over `v0:ts:body`."""
    body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    headers: dict[str, str | Sequence[str]] = {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-signature": [f"v0={digest}"],
        "x-slack-request-timestamp": [stamp],
    }
    return AsyncBoltRequest(body=body, headers=headers)


def menu_choice(
    slack: SlackServer, message: dict[str, Any], channel: str, block_id: str, value: str, *, user: str
) -> dict[str, Any]:
    """block_actions: `user` chose the option `value` of the overflow menu in block `block_id`."""
    block = next(b for b in message["blocks"] if b.get("block_id") == block_id)
    menu = next(e for e in block["elements"] if e.get("type") == "overflow")
    option = next(o for o in menu["options"] if o["value"] == value)
    container = {"type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": False}
    if message.get("thread_ts") and message["thread_ts"] != message["ts"]:
        container["thread_ts"] = message["thread_ts"]
    return {
        "type": "block_actions",
        "team": TEAM,
        "user": {"id": user, "team_id": TEAM["id"]},
        "api_app_id": "A0DIGESTBOT",
        "container": container,
        "channel": {"id": channel, "name": "llm-digest"},
        "message": message,
        "response_url": slack.response_url(user),
        "trigger_id": slack.trigger(),
        "actions": [
            {
                "type": "overflow",
                "action_id": menu["action_id"],
                "block_id": block_id,
                "selected_option": option,
                "action_ts": f"{int(time.time())}.000001",
            }
        ],
    }


def submission(view: dict[str, Any], values: dict[str, Any], *, user: str) -> dict[str, Any]:
    """view_submission of `view` with `values`: {block_id: text} for plain_text_input blocks,
    {block_id: option value} for static_select blocks."""
    state: dict[str, dict[str, Any]] = {}
    for block in view["blocks"]:
        if block.get("type") != "input" or block["block_id"] not in values:
            continue
        element = block["element"]
        value = values[block["block_id"]]
        if element["type"] == "static_select":
            option = next(o for o in element["options"] if o["value"] == value)
            entry: dict[str, Any] = {"type": "static_select", "selected_option": option}
        else:
            entry = {"type": element["type"], "value": value}
        state[block["block_id"]] = {element["action_id"]: entry}
    submitted = {**view, "state": {"values": state}}
    return {
        "type": "view_submission",
        "team": TEAM,
        "user": {"id": user, "team_id": TEAM["id"]},
        "api_app_id": "A0DIGESTBOT",
        "view": submitted,
    }
