"""`/digest follow|unfollow|me` through Bolt, then a weekly run: 👀 mentions and DM digests in Slack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from digestbot.domain import Window
from digestbot.runner import run_digest
from digestbot.settings import Settings
from digestbot.testing.slack_server import SlackServer
from digestbot.testing.slack_users import dm_channel_id
from support.follow_bot import (
    ALICE,
    BOB,
    CHANNEL,
    GONE,
    ROOT,
    Bot,
    bot_maker,
    channel_blocks,
    dms,
    members_server,
    settings_maker,
    weekly,
)


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    yield from members_server()


@pytest.fixture
def make_settings(slack: SlackServer, tmp_path: Path) -> Callable[..., Settings]:
    return settings_maker(slack, tmp_path)


@pytest.fixture
async def bot_for(slack: SlackServer) -> AsyncIterator[Callable[[Settings], Bot]]:
    async for make in bot_maker(slack):
        yield make


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
