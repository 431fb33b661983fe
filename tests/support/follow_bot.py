"""Shared by the follow tests: a Slack server with members, settings with `[follow]`, the Bolt app
sending signed `/digest` requests, and the weekly run (tests/test_follow_command.py,
tests/reliability/test_rel_follow.py)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from digestbot.config_reload import ConfigHolder
from digestbot.domain import Item, Window
from digestbot.runner import RunOutcome, run_digest
from digestbot.settings import Settings, load_settings
from digestbot.slack.app import build_app
from digestbot.slack.services import BotServices
from digestbot.store import ItemStore
from digestbot.testing.slack_server import SlackServer
from digestbot.testing.slack_users import dm_channel_id
from support.worker_env import sample_items, toml_text, worker_environ, write_config

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-signing-secret"
CHANNEL = "C0DIGEST01"
ALICE, BOB, GONE = "U0ALICE01", "U0BOB0002", "U0GONE003"


def members_server() -> Iterator[SlackServer]:
    """The fixture `slack`: a local Slack server where ALICE and BOB are members (GONE is not)."""
    with SlackServer() as server:
        server.add_user(ALICE, "alice", display_name="アリス")
        server.add_user(BOB, "bob")
        yield server


def settings_maker(slack: SlackServer, tmp_path: Path) -> Callable[..., Settings]:
    """The fixture `make_settings`: settings (with `[follow]` keys) whose store holds `items`."""

    def make(items: list[Item] | None = None, **follow: Any) -> Settings:
        folder = write_config(tmp_path / "config", ROOT / "config" / "categories.toml")
        if follow:
            with (folder / "digestbot.toml").open("a", encoding="utf-8") as toml:
                toml.write(toml_text({"follow": follow}))
        url = f"sqlite:///{tmp_path / 'store.sqlite'}"
        env = worker_environ(folder, tmp_path / "data", url, slack.api_url, bot_token=slack.token)
        settings = load_settings(folder, env, env_file=tmp_path / "no.env")
        with ItemStore(settings.store_url) as store:
            store.upsert(items if items is not None else sample_items(datetime.now(UTC) - timedelta(days=1)))
        return settings

    return make


@dataclass
class Bot:
    app: AsyncApp
    services: BotServices
    slack: SlackServer

    async def command(self, text: str, user: str = ALICE, name: str = "alice") -> str:
        form = {
            "command": "/digest",
            "text": text,
            "user_id": user,
            "user_name": name,
            "team_id": "T0DIGEST",
            "channel_id": CHANNEL,
            "channel_name": "llm-digest",
            "response_url": self.slack.response_url("1"),
            "trigger_id": "1.2.3",
        }
        body = urlencode(form)
        ts = str(int(time.time()))
        signature = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        headers = {
            "content-type": ["application/x-www-form-urlencoded"],
            "x-slack-signature": [signature],
            "x-slack-request-timestamp": [ts],
        }
        response = await self.app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
        assert 200 == response.status
        assert await self.services.tasks.join(within=30)
        return str(json.loads(response.body)["text"]) if response.body.startswith("{") else response.body


async def bot_maker(slack: SlackServer) -> AsyncIterator[Callable[[Settings], Bot]]:
    """The fixture `bot_for`: the Bolt app as `serve` builds it, for given settings."""
    made: list[BotServices] = []

    def make(settings: Settings) -> Bot:
        services = BotServices(ConfigHolder(lambda: settings), notify_admin=lambda *_: None)
        made.append(services)
        client = AsyncWebClient(token=slack.token, base_url=slack.api_url)
        return Bot(
            build_app(services, client, signing_secret=SECRET, process_before_response=True), services, slack
        )

    yield make
    for services in made:
        services.close()


async def weekly(settings: Settings, *, force: bool = False) -> RunOutcome:
    """The weekly digest of the last 7 days, posted with the real WebClient (what `run` does)."""
    window = Window.since("7d")
    return await asyncio.to_thread(run_digest, settings, window, fetch=False, dry_run=False, force=force)


def channel_blocks(slack: SlackServer) -> str:
    return json.dumps([m.get("blocks") for m in slack.messages(CHANNEL)], ensure_ascii=False)


def dms(slack: SlackServer, user: str) -> list[dict[str, Any]]:
    return slack.messages(dm_channel_id(user))
