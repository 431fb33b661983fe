"""`/digest follow|unfollow|me` through Bolt, then a weekly run: 👀 mentions and DM digests in Slack."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from digestbot.config_reload import ConfigHolder
from digestbot.domain import Item, Window
from digestbot.runner import RunOutcome, run_digest
from digestbot.settings import Settings, load_settings
from digestbot.slack.app import build_app
from digestbot.slack.services import BotServices
from digestbot.store import ItemStore
from digestbot.store import follow_dms as ledger
from digestbot.store.schema import open_engine
from digestbot.testing.slack_server import SlackServer
from digestbot.testing.slack_users import dm_channel_id
from support.worker_env import sample_items, toml_text, worker_environ, write_config

ROOT = Path(__file__).resolve().parents[1]
SECRET = "test-signing-secret"
CHANNEL = "C0DIGEST01"
ALICE, BOB, GONE = "U0ALICE01", "U0BOB0002", "U0GONE003"


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        server.add_user(ALICE, "alice", display_name="アリス")
        server.add_user(BOB, "bob")
        yield server


@pytest.fixture
def make_settings(slack: SlackServer, tmp_path: Path) -> Callable[..., Settings]:
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


@pytest.fixture
async def bot_for(slack: SlackServer) -> AsyncIterator[Callable[[Settings], Bot]]:
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


async def test_follow_then_weekly_digest_mentions_and_dms_the_follower(
    make_settings: Callable[..., Settings], bot_for: Any, slack: SlackServer
) -> None:
    """A follow by slash command → the matching item carries 👀 <@ALICE>, and ALICE gets a DM digest."""
    settings = make_settings()
    bot = bot_for(settings)
    answer = await bot.command("follow --dm quantization")
    assert "フォローしました: 「quantization」" in answer
    assert "受け取る" in answer
    outcome = await weekly(settings)
    assert outcome.delivery is not None
    assert (ALICE,) == outcome.delivery.follow_dms.sent
    blocks = channel_blocks(slack)
    assert f"👀 <@{ALICE}>" in blocks
    assert 1 == blocks.count("<@")  # only the quantization paper is for her
    [dm] = dms(slack, ALICE)
    dm_text = json.dumps(dm["blocks"], ensure_ascii=False)
    assert "Quantization of large language models" in dm_text
    assert "Speculative decoding" not in dm_text
    assert "<@" not in dm_text
    assert f"全体のダイジェスト: <{outcome.delivery.permalink}|チャンネルの投稿>" in dm_text
    assert "あなたのフォロー（「quantization」）に合う今週の1件です。" in dm_text
    assert [] == dms(slack, BOB)


async def test_a_rerun_does_not_dm_twice(
    make_settings: Callable[..., Settings], bot_for: Any, slack: SlackServer
) -> None:
    """`run --force` edits the channel post; the follower's DM for the period is not sent again."""
    settings = make_settings()
    await bot_for(settings).command("follow --dm quantization")
    await weekly(settings)
    again = await weekly(settings, force=True)
    assert again.delivery is not None
    assert () == again.delivery.follow_dms.sent
    assert 1 == len(dms(slack, ALICE))
    assert 1 == len(slack.calls("conversations.open"))


async def test_one_failing_dm_never_stops_the_others(
    make_settings: Callable[..., Settings], bot_for: Any, slack: SlackServer
) -> None:
    """A user Slack no longer knows gets one failed ledger row; BOB's DM and the channel post go out."""
    settings = make_settings()
    bot = bot_for(settings)
    await bot.command("follow --dm quantization", user=GONE, name="gone")  # not in the workspace
    await bot.command("follow --dm quantization", user=BOB, name="bob")
    outcome = await weekly(settings)
    assert outcome.delivery is not None
    assert ((GONE, "user_not_found"),) == outcome.delivery.follow_dms.failed
    assert (BOB,) == outcome.delivery.follow_dms.sent
    assert 1 == len(dms(slack, BOB))
    record = ledger.find(open_engine(settings.store_url), GONE, outcome.delivery.period)
    assert record is not None
    assert ("failed", "user_not_found") == (record.status, record.error)
    assert f"<@{GONE}>" in channel_blocks(slack)  # still shown as a follower in the channel


async def test_dry_run_blocks_show_who_items_are_for(
    make_settings: Callable[..., Settings], bot_for: Any, slack: SlackServer
) -> None:
    """`run --dry-run` writes the 👀 line into blocks.json, and posts and DMs nothing."""
    settings = make_settings()
    await bot_for(settings).command("follow --dm quantization")
    outcome = await asyncio.to_thread(run_digest, settings, Window.since("7d"), fetch=False, dry_run=True)
    assert f"👀 <@{ALICE}>" in outcome.outputs["blocks"].read_text(encoding="utf-8")
    assert ([], []) == (slack.calls("chat.postMessage"), slack.calls("conversations.open"))


async def test_an_on_demand_digest_pings_and_dms_nobody(
    make_settings: Callable[..., Settings], bot_for: Any, slack: SlackServer
) -> None:
    """`/digest 3d` is asked by one member: the followers are neither mentioned nor DMed."""
    settings = make_settings()
    bot = bot_for(settings)
    await bot.command("follow --dm quantization")
    await bot.command("3d", user=BOB, name="bob")
    [post] = slack.messages(CHANNEL)
    assert "#ondemand-" in post["metadata"]["event_payload"]["period"]
    assert "<@" not in json.dumps(post["blocks"], ensure_ascii=False)
    assert [] == slack.calls("conversations.open")


async def test_mentions_off_shows_names_without_pinging(
    make_settings: Callable[..., Settings], bot_for: Any, slack: SlackServer
) -> None:
    """`[follow] mention = false`: the display name from users.info, escaped, and no `<@` anywhere."""
    settings = make_settings(mention=False)
    await bot_for(settings).command("follow quantization")
    await weekly(settings)
    blocks = channel_blocks(slack)
    assert "<@" not in blocks
    assert "👀 アリス" in blocks


async def test_hostile_item_text_never_produces_a_mention(
    make_settings: Callable[..., Settings], bot_for: Any, slack: SlackServer
) -> None:
    """Titles and abstracts with `<@U123>` and `<!channel>`: escaped; the only mention is the follower's."""
    now = datetime.now(UTC) - timedelta(days=1)
    hostile = [
        replace(
            item,
            title=f"<@U123> <!channel> {item.title} <@{BOB}>",
            text=f"{item.text} <!here> <@U123|boss>",
        )
        for item in sample_items(now)
    ]
    settings = make_settings(hostile)
    await bot_for(settings).command("follow quantization")
    await weekly(settings)
    blocks = channel_blocks(slack)
    assert "&lt;@U123&gt;" in blocks
    assert "<!channel>" not in blocks
    assert "<!here>" not in blocks
    assert [f"<@{ALICE}>"] == [part[: len(ALICE) + 3] for part in blocks.split("👀 ")[1:]]
    assert 1 == blocks.count("<@")


async def test_unknown_category_is_refused_with_the_valid_ids(
    make_settings: Callable[..., Settings], bot_for: Any
) -> None:
    """`category:nope` stores nothing and lists the ids; a typo-free category id follows it."""
    bot = bot_for(make_settings())
    answer = await bot.command("follow category:nope 量子化")
    assert "「category:nope」というカテゴリはありません" in answer
    assert "`rag`" in answer
    assert "まだ何もフォローしていません" in await bot.command("me")
    assert "フォローしました: RAG/ロングコンテキスト、「量子化」" in await bot.command(
        "follow rag ＲＡＧ 量子化"
    )


async def test_me_and_unfollow(make_settings: Callable[..., Settings], bot_for: Any) -> None:
    """`/digest me` lists the follows and the DM choice; `unfollow` removes one, `unfollow all` the rest."""
    bot = bot_for(make_settings())
    await bot.command('follow --dm rag "multi agent"')
    me = await bot.command("me")
    assert "• カテゴリ: RAG/ロングコンテキスト" in me
    assert "• キーワード: 「multi agent」" in me
    assert "DM でのダイジェスト: 受け取る" in me
    assert "フォローを解除しました: RAG/ロングコンテキスト" in await bot.command("unfollow rag")
    assert "すべてのフォロー（1件）を解除しました。" in await bot.command("unfollow all --dm")
    assert "まだ何もフォローしていません" in await bot.command("me")


async def test_follows_are_bounded_per_member(make_settings: Callable[..., Settings], bot_for: Any) -> None:
    """Past `max_follows_per_user` nothing more is stored; an over-long keyword is refused."""
    bot = bot_for(make_settings(max_follows_per_user=2, max_keyword_chars=10))
    answer = await bot.command("follow alpha beta gamma")
    assert "フォローしました: 「alpha」、「beta」" in answer
    assert "上限（2件）を超えるため登録しませんでした: 「gamma」" in answer
    assert "長すぎます" in await bot.command("follow abcdefghijk")


def test_dm_goes_through_the_real_client_only(slack: SlackServer) -> None:
    """The fake answers conversations.open like Slack: a D… id for a member, errors for the others."""
    client = WebClient(token=slack.token, base_url=slack.api_url)
    assert dm_channel_id(ALICE) == client.conversations_open(users=ALICE)["channel"]["id"]
    slack.add_user("U0BOT0001", "bot", is_bot=True)
    for user, code in ((GONE, "user_not_found"), ("U0BOT0001", "cannot_dm_bot")):
        with pytest.raises(Exception, match=code):
            client.conversations_open(users=user)


async def test_a_dm_lost_mid_send_is_found_not_sent_twice(
    make_settings: Callable[..., Settings], bot_for: Any, slack: SlackServer
) -> None:
    """The DM reached Slack but the answer was lost: the debt stays, and the next delivery finds the
    DM by its marker instead of sending a second one."""
    from digestbot.delivery import reconcile_pending

    settings = make_settings()
    await bot_for(settings).command("follow --dm quantization")
    slack.fault("disconnect_after", method="chat.postMessage", after=1)  # the channel post goes through
    outcome = await weekly(settings)
    assert outcome.delivery is not None
    assert ((ALICE, "connection_error"),) == outcome.delivery.follow_dms.failed
    assert 1 == len(dms(slack, ALICE))
    await asyncio.to_thread(reconcile_pending, settings, settings.store_url)
    record = ledger.find(open_engine(settings.store_url), ALICE, outcome.delivery.period)
    assert record is not None
    assert ("sent", dms(slack, ALICE)[0]["ts"]) == (record.status, record.ts)
    assert 1 == len(dms(slack, ALICE))


def test_manifest_declares_what_follows_need() -> None:
    """The app manifest has the DM and users scopes, and the usage hint names follow and me."""
    import yaml

    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yml").read_text(encoding="utf-8"))
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    hint = manifest["features"]["slash_commands"][0]["usage_hint"]
    assert ({"im:write", "im:history", "users:read"} <= scopes, "follow" in hint, "me" in hint) == (
        True,
        True,
        True,
    )
