"""`/digest` under abuse, through the Bolt app exactly as `serve` builds it: a flood of requests is acked
within Slack's 3 seconds and generated with bounded concurrency; a channel or user not allowed is
refused; an HTTP request with a bad signature is rejected."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import pytest
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from digestbot.config_reload import ConfigHolder
from digestbot.settings import Settings, load_settings
from digestbot.slack.app import build_app
from digestbot.slack.services import BotServices
from digestbot.store import ItemStore
from reliability.harness import ROOT, Hang, Stack
from support.worker_env import sample_items

SECRET = "reliability-signing-secret"
FORM = dict(
    parse_qsl(
        (
            ROOT / "tests/fixtures/slack/slash-command_request-body_bolt-python.x-www-form-urlencoded.txt"
        ).read_text()
    )
)
ACK_WITHIN = 3.0  # Slack shows the user an error when a slash command is not acknowledged in 3 s
WAIT_STEPS, OBSERVE_STEPS = 600, 60  # x 0.05 s: the flood test's look at how many generate at once


@dataclass
class Bot:
    app: AsyncApp
    services: BotServices
    stack: Stack

    async def command(
        self, text: str, *, secret: str = SECRET, timestamp: int | None = None, **fields: str
    ) -> BoltResponse:
        form = FORM | {
            "command": "/digest",
            "text": text,
            "response_url": self.stack.slack.response_url(text),
        }
        form |= {"channel_id": "C0DIGEST01", "channel_name": "llm-digest", "user_id": "U0ASKER01"} | fields
        body = urlencode(form)
        ts = str(timestamp or int(time.time()))
        signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        headers = {
            "content-type": ["application/x-www-form-urlencoded"],
            "x-slack-signature": [signature],
            "x-slack-request-timestamp": [ts],
        }
        return await self.app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))


@pytest.fixture
async def bot(stack: Stack) -> AsyncIterator[Bot]:
    """The worker's app over HTTP (signing secret set), the LLM and Slack fakes, yesterday's papers stored."""
    settings = load_settings()
    with ItemStore(settings.store_url) as store:
        store.upsert(sample_items(datetime.now(UTC) - timedelta(days=1)))
    services = BotServices(ConfigHolder(lambda: settings), progress_interval=0, notify_admin=lambda *_: None)
    client = AsyncWebClient(token=stack.slack.token, base_url=stack.slack.api_url)
    app = build_app(services, client, signing_secret=SECRET, process_before_response=True)
    yield Bot(app, services, stack)
    for _, _, reply in stack.model.rules:
        if isinstance(reply, Hang):
            reply.released.set()
    await services.tasks.join(within=60)
    services.close()


def restrict(stack: Stack, **slack: str) -> Settings:
    lines = "\n".join(f"{key} = {value}" for key, value in slack.items())
    stack.configure(extra=lines)
    return load_settings()


def generating(bot: Bot, scopes: list[str]) -> list[str]:
    """The scopes whose digest is being generated: its asker got a progress line with counts (a run
    still waiting for a pipeline thread has reported nothing; none can finish while summaries hang)."""
    return [
        scope
        for scope in scopes
        if any(
            "生成中" in str(r.get("text")) and "/" in str(r.get("text"))
            for r in bot.stack.slack.responses(scope)
        )
    ]


async def test_a_flood_of_digest_requests_is_acked_in_time_with_bounded_concurrency(bot: Bot) -> None:
    """12 different requests while every summary hangs: each is acked within 3 s; the digests being
    generated are counted at the Slack fake while they hang (2 reach the model, the other 10 wait:
    a build allowing 12 at once shows more within the bounded observation); once the model answers
    every asker gets a digest."""
    with ItemStore(bot.stack.settings().store_url) as store:  # every window (1d..12d) has 3 papers
        store.upsert(sample_items(datetime.now(UTC)))
    hang = Hang(60)
    bot.stack.model.on("Blurb", "", hang)
    scopes = [f"{days}d" for days in range(1, 13)]

    acks = []
    for scope in scopes:
        started = time.monotonic()
        response = await asyncio.wait_for(bot.command(scope), timeout=ACK_WITHIN * 3)
        acks.append((response.status, time.monotonic() - started <= ACK_WITHIN))
    for _ in range(WAIT_STEPS):  # bounded: until the first 2 are generating
        if len(generating(bot, scopes)) >= 2:
            break
        await asyncio.sleep(0.05)
    peak = len(generating(bot, scopes))
    for _ in range(OBSERVE_STEPS):  # then long enough for a 3rd to show up if one could start
        peak = max(peak, len(generating(bot, scopes)))
        await asyncio.sleep(0.05)
    hang.released.set()
    settled = await bot.services.tasks.join(within=120)

    answered = [scope for scope in scopes if bot.stack.slack.responses(scope)]
    expected = ([(200, True)] * 12, 2, True, scopes)
    assert expected == (acks, peak, settled, answered)


@pytest.mark.parametrize(
    ("allowed", "fields", "says"),
    [
        (
            {"allowed_channels": '["#llm-digest"]'},
            {"channel_id": "C0RANDOM02", "channel_name": "random"},
            "チャンネル",
        ),
        ({"allowed_users": '["U0BOSS001"]'}, {"user_id": "U0STRANGER", "user_name": "stranger"}, "権限"),
    ],
    ids=["channel-not-allowed", "user-not-allowed"],
)
async def test_a_channel_or_user_not_allowed_is_refused_and_nothing_runs(
    bot: Bot, allowed: dict[str, str], fields: dict[str, str], says: str
) -> None:
    """The refusal is the ack itself; no pipeline runs, nothing is posted."""
    settings = restrict(bot.stack, **allowed)
    bot.services.config = ConfigHolder(lambda: settings)

    response = await bot.command("3d", **fields)
    await bot.services.tasks.join(within=30)

    expected = (200, [], [])
    assert expected == (response.status, bot.stack.model.seen, bot.stack.posts())
    assert says in response.body


@pytest.mark.parametrize(
    ("secret", "age"),
    [("not-the-signing-secret", 0), (SECRET, 10 * 60)],
    ids=["bad-signature", "replayed-10-minutes-later"],
)
async def test_a_request_with_a_bad_signature_or_stale_timestamp_is_rejected(
    bot: Bot, secret: str, age: int
) -> None:
    """401 and nothing runs: a forged or replayed HTTP request never reaches the listener."""
    response = await bot.command("3d", secret=secret, timestamp=int(time.time()) - age)
    await bot.services.tasks.join(within=30)
    expected = (401, [], [])
    assert expected == (response.status, bot.stack.model.seen, bot.stack.posts())
