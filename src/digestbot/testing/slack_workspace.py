"""The fake Slack workspace behind `SlackServer`: channels, messages, and the Web API methods.

Each method takes the parsed arguments and returns `(HTTP status, JSON body)` as Slack would:
channel names are accepted only where Slack accepts them (chat.postMessage); conversations.history,
conversations.replies, chat.update and chat.getPermalink need the channel ID.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from digestbot.testing.slack_users import conversations_open, users_info
from digestbot.testing.slack_validation import Answer, error, validate_message
from digestbot.testing.slack_views import conversations_members, views_open, views_update

TOKEN = "xoxb-test-token"  # noqa: S105 - the fake workspace's bot token, not a secret
APP_TOKEN = "xapp-test-token"  # noqa: S105 - the fake app-level token (Socket Mode), not a secret
APP_LEVEL_METHODS = {"apps.connections.open"}  # answered only for the app-level token
BOT = {"user": "U0DIGESTBOT", "bot_id": "B0DIGESTBOT", "app_id": "A0DIGESTBOT", "team": "T0DIGEST"}
BOT_PROFILE = {
    "id": "B0DIGESTBOT",
    "app_id": "A0DIGESTBOT",
    "name": "digestbot",
    "icons": {},
    "deleted": False,
    "updated": 1_700_000_000,
    "team_id": "T0DIGEST",
}


@dataclass
class Workspace:
    token: str
    channels: dict[str, str]  # name -> ID
    members: set[str]  # IDs of the channels the bot is in
    clock: Callable[[], float]
    can_list: bool = True  # the token has channels:read (conversations.list)
    base_url: str = ""
    app_token: str = APP_TOKEN
    socket_mode_url: str = ""  # what apps.connections.open hands out (a local Socket Mode server)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)  # chat.postEphemeral, in order
    responses: list[dict[str, Any]] = field(default_factory=list)  # bodies POSTed to response_urls
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # files.getUploadURLExternal, by id
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # users.info records (slack_users.py)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)  # opened modals by id (slack_views.py)
    triggers: dict[str, float] = field(default_factory=dict)  # trigger_id -> when it was handed out
    channel_members: dict[str, list[str]] = field(default_factory=dict)  # conversations.members
    sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_ts(self) -> str:
        return f"{int(self.clock())}.{next(self.sequence):06d}"

    def resolve(self, channel: str) -> str | None:
        name = channel.removeprefix("#")
        return self.channels.get(name) or (channel if channel in self.channels.values() else None)

    def find(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel_id, []) if m["ts"] == ts), None)


def answer(workspace: Workspace, method: str, headers: dict[str, str], body: dict[str, Any]) -> Answer:
    """Check the token like Slack (not_authed / invalid_auth, HTTP 200), then run the method."""
    token = headers.get("authorization", "").removeprefix("Bearer ").strip() or body.get("token")
    if not token:
        return error("not_authed")
    expected, other = (
        (workspace.app_token, workspace.token)
        if method in APP_LEVEL_METHODS
        else (workspace.token, workspace.app_token)
    )
    if token != expected:
        return error("not_allowed_token_type" if token == other else "invalid_auth")
    handler = METHODS.get(method)
    return handler(workspace, body) if handler else error("unknown_method")


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _ok(**payload: Any) -> Answer:
    return 200, {"ok": True, **payload}


def _auth_test(state: Workspace, body: dict[str, Any]) -> Answer:
    return _ok(
        url=f"{state.base_url}/",
        team="digestbot-test",
        user="digestbot",
        team_id=BOT["team"],
        user_id=BOT["user"],
        bot_id=BOT["bot_id"],
        is_enterprise_install=False,
    )


def _channel(state: Workspace, body: dict[str, Any], *, ids_only: bool = False) -> str | Answer:
    channel = str(body.get("channel", ""))
    channel_id = channel if ids_only and channel in state.channels.values() else None
    channel_id = channel_id or (None if ids_only else state.resolve(channel))
    if channel_id is None:
        return error("channel_not_found")
    return channel_id if channel_id in state.members else error("not_in_channel")


def _post_message(state: Workspace, body: dict[str, Any]) -> Answer:
    channel_id = _channel(state, body)
    if not isinstance(channel_id, str):
        return channel_id
    problem = validate_message(body)
    if problem is not None:
        return problem
    ts = state.next_ts()
    message: dict[str, Any] = {"type": "message", "ts": ts, **BOT, "text": body.get("text", "")}
    message["bot_profile"] = BOT_PROFILE
    for key in ("blocks", "thread_ts", "metadata"):
        if body.get(key):
            value = body[key]
            message[key] = json.loads(value) if isinstance(value, str) and key != "thread_ts" else value
    state.messages.setdefault(channel_id, []).append(message)
    return _ok(channel=channel_id, ts=ts, message=message)


def _post_ephemeral(state: Workspace, body: dict[str, Any]) -> Answer:
    channel_id = _channel(state, body)
    if not isinstance(channel_id, str):
        return channel_id
    if not body.get("user"):
        return error("user_not_in_channel")
    problem = validate_message(body)
    if problem is not None:
        return problem
    message = {"channel": channel_id, "user": body["user"], "text": body.get("text", "")}
    if body.get("blocks"):
        blocks = body["blocks"]
        message["blocks"] = json.loads(blocks) if isinstance(blocks, str) else blocks
    state.ephemeral.append(message)
    return _ok(message_ts=state.next_ts())


def _connections_open(state: Workspace, body: dict[str, Any]) -> Answer:
    if not state.socket_mode_url:
        return error("internal_error")
    return _ok(url=state.socket_mode_url)


def _update(state: Workspace, body: dict[str, Any]) -> Answer:
    channel_id = _channel(state, body, ids_only=True)
    if not isinstance(channel_id, str):
        return channel_id
    message = state.find(channel_id, str(body.get("ts", "")))
    if message is None:
        return error("message_not_found")
    problem = validate_message(body)
    if problem is not None:
        return problem
    message["text"] = body.get("text", "")
    for key in ("blocks", "metadata"):
        if key in body:
            value = body[key]
            message[key] = json.loads(value) if isinstance(value, str) else value
    message["edited"] = {"user": BOT["user"], "ts": state.next_ts()}
    return _ok(channel=channel_id, ts=message["ts"], text=message["text"], message=message)


def _permalink(state: Workspace, body: dict[str, Any]) -> Answer:
    channel = str(body.get("channel", ""))
    channel_id = channel if channel in state.channels.values() else None
    message = state.find(channel_id, str(body.get("message_ts", ""))) if channel_id else None
    if channel_id is None or message is None:
        return error("channel_not_found" if channel_id is None else "message_not_found")
    link = f"{state.base_url}/archives/{channel_id}/p{message['ts'].replace('.', '')}"
    if message.get("thread_ts") and message["thread_ts"] != message["ts"]:
        link += f"?thread_ts={message['thread_ts']}&cid={channel_id}"
    return _ok(channel=channel_id, permalink=link)


def _visible(
    message: dict[str, Any], body: dict[str, Any], replies: Iterable[dict[str, Any]] = ()
) -> dict[str, Any]:
    shown = {k: v for k, v in message.items() if k != "metadata" or _truthy(body.get("include_all_metadata"))}
    count = sum(1 for _ in replies)
    return {**shown, "reply_count": count, "thread_ts": message["ts"]} if count else shown


def _cursor(ts: str) -> str:
    """Slack's opaque cursor: base64 of `next_ts:<ts>`."""
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _after_cursor(body: dict[str, Any]) -> str | None:
    cursor = str(body.get("cursor") or "")
    if not cursor:
        return None
    try:
        decoded = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return ""
    return decoded.removeprefix("next_ts:") if decoded.startswith("next_ts:") else ""


def _page(
    answers: list[dict[str, Any]], body: dict[str, Any], *, newest_first: bool
) -> tuple[list[dict[str, Any]], bool, str] | None:
    """One page of `answers` after the request's cursor: (messages, has_more, next_cursor); None for
    a cursor Slack did not hand out."""
    limit = min(max(int(body.get("limit") or 100), 1), 999)
    after = _after_cursor(body)
    if after == "":
        return None
    if after is not None:
        mark = float(after)
        answers = [m for m in answers if (float(m["ts"]) < mark if newest_first else float(m["ts"]) > mark)]
    page, more = answers[:limit], len(answers) > limit
    return page, more, _cursor(page[-1]["ts"]) if more else ""


def _history(state: Workspace, body: dict[str, Any]) -> Answer:
    """Top-level messages between `oldest` and `latest` (exclusive unless `inclusive`), newest first,
    `limit` per page with a cursor; `metadata` only with `include_all_metadata=true`."""
    channel_id = _channel(state, body, ids_only=True)
    if not isinstance(channel_id, str):
        return channel_id
    oldest = float(body.get("oldest") or 0)
    latest = float(body.get("latest") or state.clock() + 1)
    inclusive = _truthy(body.get("inclusive"))

    def inside(ts: float) -> bool:
        return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

    messages = state.messages.get(channel_id, [])
    top = [m for m in messages if m.get("thread_ts") in (None, m["ts"]) and inside(float(m["ts"]))]
    answers = [_visible(m, body, [r for r in messages if r.get("thread_ts") == m["ts"]]) for m in top]
    paged = _page(answers[::-1], body, newest_first=True)
    if paged is None:
        return error("invalid_cursor")
    page, more, cursor = paged
    return _ok(messages=page, has_more=more, pin_count=0, response_metadata={"next_cursor": cursor})


def _replies(state: Workspace, body: dict[str, Any]) -> Answer:
    """The parent, then its replies oldest first, paginated like conversations.history."""
    channel_id = _channel(state, body, ids_only=True)
    if not isinstance(channel_id, str):
        return channel_id
    parent = state.find(channel_id, str(body.get("ts", "")))
    if parent is None:
        return error("thread_not_found")
    thread = [m for m in state.messages[channel_id] if m.get("thread_ts") == parent["ts"] and m is not parent]
    answers = [_visible(parent, body, thread), *(_visible(m, body) for m in thread)]
    paged = _page(answers, body, newest_first=False)
    if paged is None:
        return error("invalid_cursor")
    page, more, cursor = paged
    return _ok(messages=page, has_more=more, response_metadata={"next_cursor": cursor})


def _list(state: Workspace, body: dict[str, Any]) -> Answer:
    if not state.can_list:
        status, payload = error("missing_scope")
        return status, {**payload, "needed": "channels:read,groups:read", "provided": "chat:write"}
    channels = [
        {"id": cid, "name": name, "is_channel": True, "is_member": cid in state.members}
        for name, cid in state.channels.items()
    ]
    return _ok(channels=channels, response_metadata={"next_cursor": ""})


UPLOAD_PATH = "/upload/"


def _upload_url(state: Workspace, body: dict[str, Any]) -> Answer:
    """files.getUploadURLExternal: a file id and a URL on this server to POST the bytes to."""
    filename, length = str(body.get("filename") or ""), str(body.get("length") or "")
    if not filename or not length.isdigit():
        return error("invalid_arguments")
    file_id = f"F{len(state.files) + 1:09d}"
    state.files[file_id] = {"id": file_id, "name": filename, "length": int(length), "data": None}
    return _ok(upload_url=f"{state.base_url}{UPLOAD_PATH}{file_id}", file_id=file_id)


def receive_upload(state: Workspace, file_id: str, data: bytes) -> int:
    """The raw POST to an upload URL (step 2): 200, or 404 for an unknown id."""
    if file_id not in state.files:
        return 404
    state.files[file_id]["data"] = data
    return 200


def _complete_upload(state: Workspace, body: dict[str, Any]) -> Answer:
    """files.completeUploadExternal: share the uploaded files in a channel (a thread with thread_ts)."""
    listed = json.loads(body.get("files") or "[]")
    if not listed or any(f.get("id") not in state.files for f in listed):
        return error("file_not_found")
    if any(state.files[f["id"]]["data"] is None for f in listed):
        return error("file_upload_incomplete")
    for f in listed:
        state.files[f["id"]]["title"] = f.get("title") or state.files[f["id"]]["name"]
    shared = [state.files[f["id"]] for f in listed]
    if body.get("channel_id"):
        channel_id = _channel(state, {"channel": body["channel_id"]}, ids_only=True)
        if not isinstance(channel_id, str):
            return channel_id
        ts = state.next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "ts": ts,
            **BOT,
            "text": body.get("initial_comment", ""),
        }
        message["files"] = [{k: v for k, v in f.items() if k != "data"} for f in shared]
        if body.get("thread_ts"):
            message["thread_ts"] = body["thread_ts"]
        state.messages.setdefault(channel_id, []).append(message)
    answers = [{k: v for k, v in f.items() if k != "data"} for f in shared]
    return _ok(files=answers)


METHODS: dict[str, Callable[[Workspace, dict[str, Any]], Answer]] = {
    "auth.test": _auth_test,
    "chat.postMessage": _post_message,
    "chat.postEphemeral": _post_ephemeral,
    "apps.connections.open": _connections_open,
    "chat.update": _update,
    "chat.getPermalink": _permalink,
    "conversations.history": _history,
    "conversations.replies": _replies,
    "conversations.list": _list,
    "files.getUploadURLExternal": _upload_url,
    "files.completeUploadExternal": _complete_upload,
    "users.info": users_info,
    "conversations.open": conversations_open,
    "conversations.members": conversations_members,
    "views.open": views_open,
    "views.update": views_update,
}
