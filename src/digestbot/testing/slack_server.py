"""A local Slack Web API for tests: the real slack-sdk `WebClient` talks to it over HTTP.

Answers auth.test, chat.postMessage, chat.postEphemeral, chat.update, chat.getPermalink,
conversations.history and conversations.replies (newest first / thread order, `oldest`/`latest`/
`inclusive`, `limit` pages with `has_more` and `response_metadata.next_cursor`, `metadata` only with
`include_all_metadata=true`), and (for the app-level token) apps.connections.open,
which hands out the URL of a local Socket Mode server, like Slack does (HTTP 200 with `ok:false`
for API errors, `\\/`-escaped JSON, string `ts`, channel IDs in answers, a `Date` header from the server's
clock). Messages are validated
against Slack's limits and rejected with Slack's error bodies. Scripted faults: 429 with
Retry-After and an empty body, 5xx, any Slack error code, a dropped connection (before or after
the request took effect), or an answer held back after the request took effect (`stall_after`,
until `release()`: the client can be killed meanwhile). `stop()` and `restart()` (same port, same
state) simulate an outage.
`response_url(...)` gives a slash command's response URL on this server; what is POSTed there is
kept in `responses`. files_upload_v2 works end to end: files.getUploadURLExternal hands out an
upload URL on this server, the raw bytes POSTed there are kept (`files()`), and
files.completeUploadExternal shares them as a message (in a thread with `thread_ts`).
`add_user(...)` makes a member known to users.info and conversations.open (a DM: `slack_users.py`).
Modals and members (`slack_views.py`): views.open/views.update with a `trigger()` id, `views()`,
conversations.members from `set_members(...)`; signed interactive payloads: `slack_interactive.py`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, urlsplit

from digestbot.testing.slack_users import user_record
from digestbot.testing.slack_validation import error
from digestbot.testing.slack_views import issue_trigger
from digestbot.testing.slack_workspace import (
    APP_TOKEN,
    TOKEN,
    UPLOAD_PATH,
    Workspace,
    answer,
    receive_upload,
)

RESPONSE_PATH = "/commands/"
FaultKind = Literal["rate_limit", "server_error", "error", "disconnect", "disconnect_after", "stall_after"]


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour for the next call of `method` (or of any method when None)."""

    kind: FaultKind
    method: str | None = None
    retry_after: int = 1  # rate_limit
    status: int = 503  # server_error
    error: str = ""  # error: the Slack error code, e.g. "channel_not_found"
    after: int = 0  # let this many matching calls through normally first


@dataclass(frozen=True)
class RecordedRequest:
    method: str  # the API method, e.g. "chat.postMessage"
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]  # parsed JSON, form or query arguments
    status: int
    error: str | None  # the Slack error code answered, if any


@dataclass
class _State:
    workspace: Workspace
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)  # ends every `stall_after`

    def take_fault(self, method: str) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.method in (None, method):
                if fault.after > 0:
                    self.faults[index] = replace(fault, after=fault.after - 1)
                    return None
                del self.faults[index]
                return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header from the workspace's clock (Slack's clock, as a client sees it)."""
        return formatdate(
            self.server.state.workspace.clock() if timestamp is None else timestamp, usegmt=True
        )

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        if parts.path.startswith(RESPONSE_PATH):
            self._response_url(state, parts.path)
            return
        if parts.path.startswith(UPLOAD_PATH):
            self._upload(state, parts.path.removeprefix(UPLOAD_PATH))
            return
        method = parts.path.removeprefix("/api/").strip("/")
        body = dict(parse_qsl(parts.query))
        body.update(self._read_body())
        headers = {k.lower(): v for k, v in self.headers.items()}
        with state.lock:
            fault = state.take_fault(method)
            if fault is not None and fault.kind in ("disconnect", "disconnect_after"):
                if fault.kind == "disconnect_after":
                    answer(state.workspace, method, headers, body)
                state.requests.append(RecordedRequest(method, headers, body, 0, "disconnected"))
                self.close_connection = True
                return  # no response at all: the client sees the connection drop
            stall = fault is not None and fault.kind == "stall_after"
            status, payload = (
                self._fault(fault) if fault and not stall else answer(state.workspace, method, headers, body)
            )
            code = payload.get("error") if payload else ("ratelimited" if status == 429 else f"http_{status}")
            state.requests.append(RecordedRequest(method, headers, body, status, code))
        if stall:  # the call took effect; its answer waits (the client may die meanwhile)
            state.released.wait(timeout=120)
        self._send(status, payload, None if stall else fault)

    def _response_url(self, state: _State, path: str) -> None:
        """A slash command's response_url: Slack answers 200 `ok` (text) to a JSON message."""
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        with state.lock:
            state.workspace.responses.append({"url_path": path, **body})
            state.requests.append(RecordedRequest("response_url", headers, body, 200, None))
        data = b"ok"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _upload(self, state: _State, file_id: str) -> None:
        """Step 2 of files_upload_v2: the raw bytes POSTed to the upload URL; Slack answers `OK - <size>`."""
        data = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with state.lock:
            status = receive_upload(state.workspace, file_id, data)
            state.requests.append(RecordedRequest("upload", headers, {"file_id": file_id}, status, None))
        reply = f"OK - {len(data)}".encode() if status == 200 else b"not found"
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def _read_body(self) -> dict[str, Any]:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode("utf-8")
        if not raw:
            return {}
        if (self.headers.get("content-type") or "").startswith("application/json"):
            parsed = json.loads(raw)
            return parsed if isinstance(parsed, dict) else {"_json": parsed}
        return dict(parse_qsl(raw, keep_blank_values=True))

    @staticmethod
    def _fault(fault: Fault) -> tuple[int, dict[str, Any] | None]:
        if fault.kind == "rate_limit":
            return 429, None
        if fault.kind == "server_error":
            return fault.status, None
        return error(fault.error)

    def _send(self, status: int, payload: dict[str, Any] | None, fault: Fault | None) -> None:
        # Slack escapes "/" as "\/"; the body of a 429 is empty, a 5xx body is not JSON
        if payload is not None:
            data = json.dumps(payload, ensure_ascii=False).replace("/", "\\/").encode()
        else:
            data = b"" if status == 429 else b"upstream connect error"
        self.send_response(status)
        content_type = "application/json; charset=utf-8" if payload is not None else "text/plain"
        self.send_header("content-type", content_type)
        self.send_header("access-control-expose-headers", "x-slack-req-id, retry-after")
        if status == 429 and fault is not None:
            self.send_header("retry-after", str(fault.retry_after))
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: _State


class SlackServer:
    """`with SlackServer() as slack: WebClient(token=slack.token, base_url=slack.api_url)`."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        app_token: str = APP_TOKEN,
        channels: Mapping[str, str] | None = None,
        member_of: Iterable[str] | None = None,
        can_list_channels: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        names = dict(channels or {"llm-digest": "C0DIGEST01", "random": "C0RANDOM02"})
        members = set(names.values()) if member_of is None else {names.get(c, c) for c in member_of}
        workspace = Workspace(token, names, members, clock, can_list=can_list_channels, app_token=app_token)
        self._state = _State(workspace)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    @property
    def token(self) -> str:
        return self._state.workspace.token

    @property
    def api_url(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackServer is not running (use it as a context manager)")
        return f"{self._state.workspace.base_url}/api/"

    @property
    def app_token(self) -> str:
        return self._state.workspace.app_token

    @property
    def socket_mode_url(self) -> str:
        return self._state.workspace.socket_mode_url

    @socket_mode_url.setter
    def socket_mode_url(self, url: str) -> None:
        """Where apps.connections.open sends Socket Mode clients (a `SocketModeServer`'s `url`)."""
        with self._state.lock:
            self._state.workspace.socket_mode_url = url

    def response_url(self, name: str = "1") -> str:
        """A slash command's response_url pointing at this server."""
        return f"{self._state.workspace.base_url}{RESPONSE_PATH}T0DIGEST/{name}"

    def responses(self, name: str | None = None) -> list[dict[str, Any]]:
        """What was POSTed to response URLs (all, or those of `response_url(name)`), oldest first."""
        with self._state.lock:
            found = list(self._state.workspace.responses)
        return [r for r in found if name is None or r["url_path"].endswith(f"/{name}")]

    def files(self) -> list[dict[str, Any]]:
        """Files uploaded with files_upload_v2 (id, name, length, title when shared, data bytes)."""
        with self._state.lock:
            return [dict(f) for f in self._state.workspace.files.values()]

    def ephemeral(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        """chat.postEphemeral messages (channel, user, text, blocks), oldest first."""
        with self._state.lock:
            found = [dict(m) for m in self._state.workspace.ephemeral]
        return [m for m in found if channel_id is None or m["channel"] == channel_id]

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def calls(self, method: str) -> list[RecordedRequest]:
        """The requests received for one API method, in order."""
        return [r for r in self.requests if r.method == method]

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Every message in a channel (top-level and replies), oldest first."""
        with self._state.lock:
            return [dict(m) for m in self._state.workspace.messages.get(channel_id, [])]

    def add_user(
        self, user_id: str, name: str, *, display_name: str = "", is_bot: bool = False, deleted: bool = False
    ) -> None:
        """A member of the workspace (users.info; conversations.open gives the bot a DM with them)."""
        record = user_record(user_id, name, display_name=display_name, is_bot=is_bot)
        with self._state.lock:
            self._state.workspace.users[user_id] = {**record, "deleted": deleted}

    def set_members(self, channel_id: str, user_ids: Iterable[str]) -> None:
        """The channel's members as conversations.members lists them (`slack_views.py`)."""
        with self._state.lock:
            self._state.workspace.channel_members[channel_id] = list(user_ids)

    def trigger(self) -> str:
        """A fresh trigger_id, valid once for 3 s, as Slack puts in an interactive payload."""
        with self._state.lock:
            return issue_trigger(self._state.workspace)

    def views(self) -> list[dict[str, Any]]:
        """The modals opened with views.open (or updated), oldest first."""
        with self._state.lock:
            return [dict(v) for v in self._state.workspace.views.values()]

    def fault(self, kind: FaultKind, *, method: str | None = None, times: int = 1, **options: Any) -> None:
        """Queue `times` faults for `method`; served before normal answers, in order."""
        with self._state.lock:
            self._state.faults.extend([Fault(kind, method, **options)] * times)

    def release(self) -> None:
        """Let every `stall_after` answer go out (also done by `stop`)."""
        self._state.released.set()

    def start(self) -> Self:
        self._state.released.clear()
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._port = self._server.server_address[1]
        self._state.workspace.base_url = f"http://127.0.0.1:{self._port}"
        self._server.state = self._state
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering (connections are refused) but keep the workspace's state."""
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def restart(self) -> Self:
        """Serve again on the same port with the same messages."""
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
