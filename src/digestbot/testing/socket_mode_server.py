"""A local Slack Socket Mode server: the real slack-sdk / Bolt Socket Mode client connects to it.

aiohttp's websocket server runs on its own event loop in a background thread, bound to 127.0.0.1.
On connect it sends Slack's `hello` frame; `send(...)`/`slash_command(...)` push an envelope like
Slack's (`envelope_id`, `type`, `payload`, `accepts_response_payload`) to the newest connection, and
the client's acknowledgements (`{"envelope_id": …, "payload": …}`) are recorded with the seconds
they took. Point `SlackServer.socket_mode_url` at `url` so apps.connections.open hands it out.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import WSMsgType, web

HELLO: dict[str, Any] = {  # shape of Slack's frame (tests/fixtures/slack/socket-mode_hello-message.json)
    "type": "hello",
    "num_connections": 1,
    "debug_info": {"host": "applink-local", "build_number": 10, "approximate_connection_time": 18060},
    "connection_info": {"app_id": "A0DIGESTBOT"},
}


@dataclass(frozen=True)
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None  # what the app answered (e.g. {"text": "生成中…"}), if anything
    seconds: float  # from sending the envelope to receiving the ack


class SocketModeServer:
    """`with SocketModeServer() as socket: slack.socket_mode_url = socket.url`."""

    def __init__(self, *, hello: Mapping[str, Any] | None = None) -> None:
        self._hello = dict(hello or HELLO)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._sockets: list[web.WebSocketResponse] = []
        self._sent: dict[str, float] = {}
        self._acks: dict[str, Ack] = {}
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self.connections = 0  # how many websocket connections were accepted in total

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/link/?ticket=local"

    @property
    def acks(self) -> list[Ack]:
        with self._cond:
            return list(self._acks.values())

    # --- server side, on the background loop ---------------------------------------------------

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self._cond:
            self._sockets.append(ws)
            self.connections += 1
            self._cond.notify_all()
        await ws.send_str(json.dumps(self._hello))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._record(json.loads(message.data))
        finally:
            with self._cond:
                self._sockets.remove(ws)
                self._cond.notify_all()
        return ws

    def _record(self, data: dict[str, Any]) -> None:
        envelope_id = str(data.get("envelope_id", ""))
        with self._cond:
            started = self._sent.get(envelope_id)
            if started is not None and envelope_id not in self._acks:
                self._acks[envelope_id] = Ack(envelope_id, data.get("payload"), time.monotonic() - started)
                self._cond.notify_all()

    async def _start(self, ready: threading.Event) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        ready.set()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.run_until_complete(self._start(ready))
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
        loop.close()

    # --- test side -----------------------------------------------------------------------------

    def start(self) -> Self:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="socket-mode", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=10):
            raise RuntimeError("the Socket Mode server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            for ws in list(self._sockets):
                asyncio.run_coroutine_threadsafe(ws.close(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait_connected(self, timeout: float) -> bool:
        """Block until a client is connected (False if none within `timeout` seconds)."""
        with self._cond:
            return self._cond.wait_for(lambda: bool(self._sockets), timeout=timeout)

    def send(
        self, envelope_type: str, payload: Mapping[str, Any], *, accepts_response_payload: bool = True
    ) -> str:
        """Push an envelope to the newest connection; returns its envelope_id."""
        if self._loop is None or not self._sockets:
            raise RuntimeError("no Socket Mode client is connected (call wait_connected first)")
        envelope_id = f"env-{next(self._ids)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": dict(payload),
            "accepts_response_payload": accepts_response_payload,
        }
        with self._cond:
            ws = self._sockets[-1]
            self._sent[envelope_id] = time.monotonic()
        asyncio.run_coroutine_threadsafe(ws.send_str(json.dumps(envelope)), self._loop).result(timeout=5)
        return envelope_id

    def slash_command(self, text: str = "", *, command: str = "/digest", **fields: str) -> str:
        """A `slash_commands` envelope (fields as Slack sends them: channel_id, user_id, response_url…)."""
        payload = {
            "token": "unused-in-socket-mode",
            "team_id": "T0DIGEST",
            "team_domain": "digestbot-test",
            "channel_id": "C0DIGEST01",
            "channel_name": "llm-digest",
            "user_id": "U0ASKER01",
            "user_name": "asker",
            "command": command,
            "text": text,
            "api_app_id": "A0DIGESTBOT",
            "response_url": "",
            "trigger_id": f"{next(self._ids)}.1.local",
            **fields,
        }
        return self.send("slash_commands", payload)

    def wait_ack(self, envelope_id: str, timeout: float) -> Ack | None:
        """The app's ack of `envelope_id`, waiting at most `timeout` seconds (None if it never came)."""
        with self._cond:
            self._cond.wait_for(lambda: envelope_id in self._acks, timeout=timeout)
            return self._acks.get(envelope_id)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
