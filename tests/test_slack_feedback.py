"""👍/👎 through Bolt: signed block_actions requests are acked, stored per hashed user, and answered."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from digestbot.config_reload import ConfigHolder
from digestbot.feedback import hash_user
from digestbot.settings import Settings, load_settings
from digestbot.slack import feedback
from digestbot.slack.app import FEATURES, build_app
from digestbot.slack.render import render_digest
from digestbot.slack.services import BotServices
from digestbot.store.feedback import votes
from digestbot.store.schema import open_engine
from digestbot.testing.slack_server import SlackServer
from support.sample_digest import representative_digest

ROOT = Path(__file__).resolve().parents[1]
SECRET = "test-signing-secret"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def settings(slack: SlackServer, tmp_path: Path) -> Settings:
    env = {"DIGESTBOT_DATA_DIR": str(tmp_path), "DIGESTBOT_SLACK_API_URL": slack.api_url}
    return load_settings(ROOT / "config", env, env_file=tmp_path / "no.env")


@pytest.fixture
def app(slack: SlackServer, settings: Settings) -> AsyncApp:
    services = BotServices(config=ConfigHolder(lambda: settings), now=lambda: NOW)
    client = AsyncWebClient(token=slack.token, base_url=slack.api_url)
    built = build_app(services, client, signing_secret=SECRET, process_before_response=True)
    if feedback not in FEATURES:
        feedback.register(built)  # until app.FEATURES lists this module
    return built


def button(action_id: str, item: str = "arxiv:2611.01234") -> dict[str, Any]:
    """The button as rendered in the digest (its real value)."""
    message = render_digest(representative_digest())[0]
    for block in message["blocks"]:
        if block["type"] == "actions" and block["block_id"] == f"vote:{item}":
            return next(e for e in block["elements"] if e["action_id"] == action_id)
    raise AssertionError(f"no button for {item}")


def signed(payload: dict[str, Any], secret: str = SECRET) -> AsyncBoltRequest:
    """A block_actions POST as Slack sends it: form-encoded `payload`, signed with the secret."""
    body = urlencode({"payload": json.dumps(payload)})
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-signature": [f"v0={digest}"],
        "x-slack-request-timestamp": [timestamp],
    }
    return AsyncBoltRequest(body=body, headers=headers)


def click(
    slack: SlackServer, action_id: str, user: str = "U1", item: str = "arxiv:2611.01234"
) -> dict[str, Any]:
    element = button(action_id, item)
    return {
        "type": "block_actions",
        "team": {"id": "T0DIGEST", "domain": "digest"},
        "user": {"id": user, "team_id": "T0DIGEST"},
        "channel": {"id": "C0DIGEST01", "name": "llm-digest"},
        "message": {"ts": "1700000000.000100", "type": "message"},
        "response_url": slack.response_url(user),
        "trigger_id": "1.2.3",
        "actions": [{**element, "block_id": f"vote:{item}", "type": "button", "action_ts": "1700000001.0"}],
    }


async def test_a_vote_is_acked_stored_with_a_hashed_user_and_answered(
    app: AsyncApp, slack: SlackServer, settings: Settings
) -> None:
    """👍 on an item: 200, one row with the item, category and hashed user, an ephemeral answer."""
    response = await app.async_dispatch(signed(click(slack, "digest_vote_up")))
    stored = votes(open_engine(settings.store_url))
    assert 200 == response.status
    assert [("arxiv:2611.01234", "rag", 1, hash_user("T0DIGEST", "U1"))] == [
        (v.item_id, v.category, v.vote, v.user_hash) for v in stored
    ]
    answer = slack.responses("U1")[0]
    assert ("ephemeral", True) == (answer["response_type"], answer["text"].startswith("👍 を記録しました"))


async def test_voting_again_changes_the_vote_and_other_users_count_separately(
    app: AsyncApp, slack: SlackServer, settings: Settings
) -> None:
    """👍 then 👎 by one user leaves one 👎; another user's 👍 is its own row."""
    await app.async_dispatch(signed(click(slack, "digest_vote_up")))
    await app.async_dispatch(signed(click(slack, "digest_vote_down")))
    await app.async_dispatch(signed(click(slack, "digest_vote_up", user="U2")))
    stored = sorted(v.vote for v in votes(open_engine(settings.store_url)))
    assert ([-1, 1], "👎 に変更しました") == (stored, slack.responses("U1")[1]["text"])


async def test_a_badly_signed_request_is_rejected_and_nothing_stored(
    app: AsyncApp, slack: SlackServer, settings: Settings
) -> None:
    """A wrong signature: 401 and no vote."""
    response = await app.async_dispatch(signed(click(slack, "digest_vote_up"), secret="wrong"))
    assert (401, []) == (response.status, votes(open_engine(settings.store_url)))


async def test_an_unreadable_button_value_is_answered_not_stored(
    app: AsyncApp, slack: SlackServer, settings: Settings
) -> None:
    """A value that is not ours: acked, a short ephemeral answer, no row."""
    payload = click(slack, "digest_vote_up")
    payload["actions"][0]["value"] = "garbage"
    response = await app.async_dispatch(signed(payload))
    assert (200, [], "この投票は読み取れませんでした。") == (
        response.status,
        votes(open_engine(settings.store_url)),
        slack.responses("U1")[0]["text"],
    )
