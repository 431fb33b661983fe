"""`/digest search <words>` through Bolt: the asker gets matching past items with digest links."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from digestbot.config_reload import ConfigHolder
from digestbot.digest_json import digest_to_dict
from digestbot.settings import Settings, load_settings
from digestbot.slack.app import build_app
from digestbot.slack.search_command import answer_text
from digestbot.slack.services import BotServices
from digestbot.store.digests import mark_posted, record_intent
from digestbot.store.schema import open_engine
from digestbot.testing.slack_server import SlackServer
from support.sample_digest import representative_digest

ROOT = Path(__file__).resolve().parents[1]
SECRET = "test-signing-secret"


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def app(slack: SlackServer, tmp_path: Path) -> AsyncApp:
    env = {"DIGESTBOT_DATA_DIR": str(tmp_path), "DIGESTBOT_SLACK_API_URL": slack.api_url}
    settings: Settings = load_settings(ROOT / "config", env, env_file=tmp_path / "no.env")
    engine = open_engine(settings.store_url)
    record_intent(
        engine,
        channel="#llm-digest",
        period="2026-11-16..2026-11-22",
        digest=digest_to_dict(representative_digest()),
        item_ids=[],
    )
    mark_posted(
        engine,
        "#llm-digest",
        "2026-11-16..2026-11-22",
        channel_id="C0DIGEST01",
        ts=["1.0"],
        permalink="https://slack.example/p1",
    )
    services = BotServices(config=ConfigHolder(lambda: settings))
    client = AsyncWebClient(token=slack.token, base_url=slack.api_url)
    return build_app(services, client, signing_secret=SECRET, process_before_response=True)


def acked(body: str) -> str:
    """The ack's text (Bolt sends a bare string as the body, a dict as JSON)."""
    return str(json.loads(body)["text"]) if body.startswith("{") else body


def slash(text: str, slack: SlackServer) -> AsyncBoltRequest:
    body = urlencode(
        {
            "command": "/digest",
            "text": text,
            "user_id": "U1",
            "team_id": "T0DIGEST",
            "channel_id": "C0DIGEST01",
            "channel_name": "llm-digest",
            "response_url": slack.response_url("1"),
            "trigger_id": "1.2.3",
        }
    )
    timestamp = str(int(time.time()))
    signature = hmac.new(SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-signature": [f"v0={signature}"],
        "x-slack-request-timestamp": [timestamp],
    }
    return AsyncBoltRequest(body=body, headers=headers)


async def test_search_answers_with_items_and_digest_links(app: AsyncApp, slack: SlackServer) -> None:
    """`/digest search KVキャッシュ` acks with the matching item and its digest's permalink."""
    response = await app.async_dispatch(slash("search KV-Cache", slack))
    text = acked(response.body)
    assert 200 == response.status
    assert "KV-Cache Quantization to 2 Bits" in text
    assert "<https://slack.example/p1|2026-11-16..2026-11-22>" in text


async def test_search_without_words_explains_the_usage(app: AsyncApp, slack: SlackServer) -> None:
    """`/digest search` alone: how to write it."""
    response = await app.async_dispatch(slash("検索", slack))
    assert acked(response.body).startswith("検索する語を続けて書いてください")


def test_no_hit_answer_escapes_the_query() -> None:
    """The query is shown escaped; nothing found is said plainly."""
    assert "🔎 「&lt;!channel&gt;」に合う過去のダイジェスト記事は見つかりませんでした。" == answer_text(
        "<!channel>", []
    )
