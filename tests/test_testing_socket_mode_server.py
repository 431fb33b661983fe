"""The local Socket Mode server speaks Slack's frames to the real slack-sdk Socket Mode client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from digestbot.testing.slack_server import SlackServer
from digestbot.testing.socket_mode_server import SocketModeServer

FIXTURES = Path(__file__).parent / "fixtures" / "slack"


@pytest.fixture
def servers() -> Iterator[tuple[SlackServer, SocketModeServer]]:
    with SlackServer() as slack, SocketModeServer() as socket:
        slack.socket_mode_url = socket.url
        yield slack, socket


async def test_frames_have_the_keys_of_slacks() -> None:
    """The hello frame and a slash-command envelope carry the keys of the recorded ones."""
    hello = json.loads((FIXTURES / "socket-mode_hello-message.json").read_text())
    recorded = json.loads((FIXTURES / "socket-mode-envelope_slash_commands.json").read_text())
    with SocketModeServer() as socket:
        async with aiohttp.ClientSession() as session, session.ws_connect(socket.url) as ws:
            first = json.loads(await ws.receive_str())
            await asyncio.to_thread(socket.slash_command, "3d")
            envelope = json.loads(await ws.receive_str())
    assert (set(hello), set(recorded), set(recorded["payload"])) == (
        set(first),
        set(envelope),
        set(envelope["payload"]),
    )


async def test_sdk_client_connects_receives_a_command_and_acks(
    servers: tuple[SlackServer, SocketModeServer],
) -> None:
    """apps.connections.open → ws connect → hello → slash_commands envelope → the client's ack is recorded."""
    slack, socket = servers
    client = SocketModeClient(slack.app_token, web_client=AsyncWebClient(base_url=slack.api_url))
    received: list[dict[str, object]] = []

    async def listener(sdk: SocketModeClient, request: SocketModeRequest) -> None:
        received.append(request.payload)
        await sdk.send_socket_mode_response(
            SocketModeResponse(request.envelope_id, payload={"text": "started"})
        )

    client.socket_mode_request_listeners.append(listener)
    await client.connect()
    try:
        assert await asyncio.to_thread(socket.wait_connected, 10)
        envelope_id = socket.slash_command("3d", response_url="http://127.0.0.1:9/x")
        ack = await asyncio.to_thread(socket.wait_ack, envelope_id, 10)
    finally:
        await client.close()
    assert ack is not None
    assert ({"text": "started"}, "3d", "/digest", 1) == (
        ack.payload,
        received[0]["text"],
        received[0]["command"],
        len(slack.calls("apps.connections.open")),
    )


def test_waiting_for_an_ack_that_never_comes_is_bounded() -> None:
    """wait_ack gives None after the timeout instead of hanging."""
    with SocketModeServer() as socket:
        assert socket.wait_ack("env-404", timeout=0.05) is None
