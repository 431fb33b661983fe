"""The fake workspace's modals and channel members: views.open, views.update, conversations.members.

A trigger_id is valid once, for 3 seconds of the workspace's clock after Slack handed it out
(`issue_trigger`, done by `SlackServer.block_actions(...)`): `invalid_trigger_id` otherwise,
`expired_trigger_id` after 3 s. A view is checked like Slack does: a modal with a plain_text title,
submit and close of <= 24 characters, private_metadata <= 3000, callback_id <= 255, <= 100 blocks,
input labels <= 2000, plain_text_input max_length <= 3000, static_select <= 100 options (text <= 75,
value <= 150); a fault answers `invalid_arguments` with `[ERROR] … [json-pointer:/view/…]`.
conversations.members pages with `limit` and `response_metadata.next_cursor`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from digestbot.testing.slack_validation import Answer, block_problems, error

if TYPE_CHECKING:
    from digestbot.testing.slack_workspace import Workspace

TRIGGER_SECONDS = 3.0
MAX_VIEW_TITLE = 24
MAX_METADATA = 3000
MAX_VIEW_BLOCKS = 100
MAX_LABEL = 2000
MAX_INPUT_LENGTH = 3000
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150


def issue_trigger(state: Workspace) -> str:
    trigger = f"{int(state.clock())}.{next(state.sequence)}.trigger"
    state.triggers[trigger] = state.clock()
    return trigger


def _long(limit: int, pointer: str) -> str:
    return f"[ERROR] must be less than {limit + 1} characters [json-pointer:/view{pointer}]"


def _plain(text: Any, pointer: str, limit: int, *, required: bool = True) -> list[str]:
    if text is None and not required:
        return []
    if (
        not isinstance(text, dict)
        or text.get("type") != "plain_text"
        or not isinstance(text.get("text"), str)
    ):
        return [f"[ERROR] must be a plain_text object [json-pointer:/view{pointer}]"]
    return [_long(limit, f"{pointer}/text")] if len(text["text"]) > limit else []


def _element(element: Any, pointer: str) -> list[str]:
    if not isinstance(element, dict):
        return [f"[ERROR] missing required field: element [json-pointer:/view{pointer}]"]
    if element.get("type") == "plain_text_input":
        if int(element.get("max_length") or 0) > MAX_INPUT_LENGTH:
            return [f"[ERROR] must be at most {MAX_INPUT_LENGTH} [json-pointer:/view{pointer}/max_length]"]
        return []
    if element.get("type") == "static_select":
        options = element.get("options")
        if not isinstance(options, list) or not options or len(options) > MAX_OPTIONS:
            return [f"[ERROR] must have 1 to {MAX_OPTIONS} items [json-pointer:/view{pointer}/options]"]
        problems: list[str] = []
        for number, option in enumerate(options):
            where = f"{pointer}/options/{number}"
            problems += _plain(
                option.get("text") if isinstance(option, dict) else None, f"{where}/text", MAX_OPTION_TEXT
            )
            if len(str((option or {}).get("value") or "")) > MAX_OPTION_VALUE:
                problems.append(_long(MAX_OPTION_VALUE, f"{where}/value"))
        return problems
    return [f"[ERROR] unsupported element type [json-pointer:/view{pointer}/type]"]


def view_problems(view: Any) -> list[str]:
    """Slack's `[ERROR] …` lines for a modal."""
    if not isinstance(view, dict) or view.get("type") != "modal":
        return ["[ERROR] must be a modal [json-pointer:/view/type]"]
    problems = _plain(view.get("title"), "/title", MAX_VIEW_TITLE)
    problems += _plain(view.get("submit"), "/submit", MAX_VIEW_TITLE, required=False)
    problems += _plain(view.get("close"), "/close", MAX_VIEW_TITLE, required=False)
    if len(str(view.get("private_metadata") or "")) > MAX_METADATA:
        problems.append(_long(MAX_METADATA, "/private_metadata"))
    if len(str(view.get("callback_id") or "")) > 255:
        problems.append(_long(255, "/callback_id"))
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or len(blocks) > MAX_VIEW_BLOCKS:
        return [
            *problems,
            f"[ERROR] no more than {MAX_VIEW_BLOCKS} items allowed [json-pointer:/view/blocks]",
        ]
    for index, block in enumerate(blocks):
        if isinstance(block, dict) and block.get("type") == "input":
            problems += _plain(block.get("label"), f"/blocks/{index}/label", MAX_LABEL)
            problems += _element(block.get("element"), f"/blocks/{index}/element")
        else:
            problems += [
                line.replace("[json-pointer:", "[json-pointer:/view") for line in block_problems(index, block)
            ]
    return problems


def _view_arg(body: dict[str, Any]) -> Any:
    view = body.get("view")
    if isinstance(view, str):
        try:
            return json.loads(view)
        except json.JSONDecodeError:
            return None
    return view


def _opened(state: Workspace, view: dict[str, Any], view_id: str) -> dict[str, Any]:
    shown = {**view, "id": view_id, "team_id": "T0DIGEST", "state": {"values": {}}, "hash": f"h{view_id}"}
    state.views[view_id] = shown
    return shown


def views_open(state: Workspace, body: dict[str, Any]) -> Answer:
    trigger = str(body.get("trigger_id") or "")
    issued = state.triggers.pop(trigger, None)
    if issued is None:
        return error("invalid_trigger_id")
    if state.clock() - issued > TRIGGER_SECONDS:
        return error("expired_trigger_id")
    view = _view_arg(body)
    problems = view_problems(view)
    if problems:
        return error("invalid_arguments", problems)
    return 200, {"ok": True, "view": _opened(state, view, f"V{len(state.views) + 1:09d}")}


def views_update(state: Workspace, body: dict[str, Any]) -> Answer:
    view_id = str(body.get("view_id") or "")
    if view_id not in state.views:
        return error("not_found")
    view = _view_arg(body)
    problems = view_problems(view)
    if problems:
        return error("invalid_arguments", problems)
    return 200, {"ok": True, "view": _opened(state, view, view_id)}


def conversations_members(state: Workspace, body: dict[str, Any]) -> Answer:
    channel = str(body.get("channel") or "")
    if channel not in state.channels.values():
        return error("channel_not_found")
    members = state.channel_members.get(channel, [])
    limit = min(max(int(body.get("limit") or 100), 1), 1000)
    cursor = str(body.get("cursor") or "")
    start = int(cursor.removeprefix("members:")) if cursor.startswith("members:") else 0
    if cursor and not cursor.startswith("members:"):
        return error("invalid_cursor")
    page = members[start : start + limit]
    more = start + limit < len(members)
    return 200, {
        "ok": True,
        "members": page,
        "response_metadata": {"next_cursor": f"members:{start + limit}" if more else ""},
    }
