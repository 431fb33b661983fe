"""`/digest` through Bolt: signed HTTP requests and Socket Mode, joins, refusals, answers in Japanese."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import yaml
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from digestbot.config_reload import ConfigHolder
from digestbot.config_schema import WatchConfig
from digestbot.domain import Window
from digestbot.runner import run_digest
from digestbot.settings import Settings, load_settings
from digestbot.slack.app import build_app
from digestbot.slack.commands import UsageError, parse_scope, refusal
from digestbot.slack.ondemand import Progress, Scope
from digestbot.slack.services import BotServices
from digestbot.store import ItemStore
from digestbot.testing.slack_server import SlackServer
from digestbot.testing.socket_mode_server import SocketModeServer
from support.worker_env import sample_items, worker_environ, write_config

ROOT = Path(__file__).resolve().parents[1]
FORM = dict(
    parse_qsl(
        (
            ROOT / "tests/fixtures/slack/slash-command_request-body_bolt-python.x-www-form-urlencoded.txt"
        ).read_text()
    )
)
SECRET = "test-signing-secret"
DIGEST_ID, RANDOM_ID = "C0DIGEST01", "C0RANDOM02"


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def make_settings(slack: SlackServer, store_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def make(seed: bool = True, via: SlackServer | None = None, **slack_config: Any) -> Settings:
        server = via or slack
        folder = write_config(tmp_path / "config", ROOT / "config" / "categories.toml", slack=slack_config)
        env = worker_environ(folder, tmp_path / "data", store_url, server.api_url, bot_token=server.token)
        settings = load_settings(folder, env, env_file=tmp_path / "no.env")
        if seed:
            with ItemStore(settings.store_url) as store:
                store.upsert(sample_items(datetime.now(UTC) - timedelta(days=1)))
        return settings

    return make


@dataclass
class Bot:
    """The app as `serve` builds it, dispatching signed slash-command requests like Slack's."""

    app: AsyncApp
    services: BotServices
    slack: SlackServer

    async def command(
        self, text: str, *, response: str = "1", secret: str = SECRET, **fields: str
    ) -> BoltResponse:
        form = {**FORM, "command": "/digest", "text": text, "response_url": self.slack.response_url(response)}
        form |= {
            "channel_id": DIGEST_ID,
            "channel_name": "llm-digest",
            "user_id": "U0ASKER01",
            "user_name": "asker",
        }
        body = urlencode(form | fields)
        ts = str(int(time.time()))
        signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        headers = {
            "content-type": ["application/x-www-form-urlencoded"],
            "x-slack-signature": [signature],
            "x-slack-request-timestamp": [ts],
        }
        return await self.app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))

    async def settle(self) -> None:
        assert await self.services.tasks.join(within=60)

    def answers(self, response: str = "1") -> list[str]:
        return [r["text"] for r in self.slack.responses(response)]

    def parents(self, channel_id: str = DIGEST_ID) -> list[dict[str, Any]]:
        return [m for m in self.slack.messages(channel_id) if "thread_ts" not in m]


@pytest.fixture
async def bot_for(slack: SlackServer) -> AsyncIterator[Callable[[Settings], Bot]]:
    made: list[BotServices] = []

    def make(settings: Settings) -> Bot:
        services = BotServices(
            ConfigHolder(lambda: settings), progress_interval=0, notify_admin=lambda *_: None
        )
        made.append(services)
        client = AsyncWebClient(token=slack.token, base_url=slack.api_url)
        app = build_app(services, client, signing_secret=SECRET, process_before_response=True)
        return Bot(app, services, slack)

    yield make
    for services in made:
        services.close()


def body_text(response: BoltResponse) -> str:
    return str(json.loads(response.body)["text"]) if response.body.startswith("{") else response.body


async def test_digest_3d_acks_then_posts_to_the_channel(
    make_settings: Callable[..., Settings], bot_for: Any
) -> None:
    """Ack 「生成中…」 at once; the digest lands in the channel with its own on-demand period."""
    bot = bot_for(make_settings())
    response = await bot.command("3d")
    await bot.settle()
    parents = bot.parents()
    period = parents[0]["metadata"]["event_payload"]["period"]
    assert (200, True, 1) == (
        response.status,
        body_text(response).startswith("生成中…（直近3日・全カテゴリ）"),
        len(parents),
    )
    assert (True, True) == (
        period.endswith("#ondemand-3d"),
        bot.answers()[-1].startswith("ダイジェスト（直近3日・全カテゴリ）を投稿しました: http"),
    )


async def test_category_request_uses_its_own_period(
    make_settings: Callable[..., Settings], bot_for: Any
) -> None:
    """`/digest efficiency` covers the default 7 days of one category, keyed apart from the full digest."""
    bot = bot_for(make_settings())
    response = await bot.command("efficiency")
    await bot.settle()
    period = bot.parents()[0]["metadata"]["event_payload"]["period"]
    assert (True, True) == (
        body_text(response).startswith("生成中…（直近7日・計算量削減）"),
        period.endswith("#ondemand-7d-efficiency"),
    )


async def test_same_scope_already_posted_is_answered_with_its_link(
    make_settings: Callable[..., Settings], bot_for: Any
) -> None:
    """Asking again for what this channel already got today links to that post instead of a second copy."""
    bot = bot_for(make_settings())
    await bot.command("3d")
    await bot.settle()
    again = body_text(await bot.command("3d", response="2"))
    await bot.settle()
    assert (1, True, True) == (
        len(bot.parents()),
        "すでに投稿しています: http" in again,
        bot.answers("2") == [],
    )


async def test_second_request_while_running_joins_the_run(
    make_settings: Callable[..., Settings], bot_for: Any, store_url: str
) -> None:
    """While the first request's run is blocked at the database, a second one joins it: one run, one post."""
    if not store_url.startswith("sqlite"):
        pytest.skip("the gate is an SQLite write lock; joining does not depend on the database")
    settings = make_settings()
    bot = bot_for(settings)
    await bot.services.blocking(bot.services.engine, settings.store_url)  # opened before the gate closes
    gate = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
    gate.execute("BEGIN IMMEDIATE")  # the run cannot open the store until this is released
    try:
        first = body_text(await bot.command("3d", response="1"))
        second = body_text(await bot.command("3d", response="2", user_id="U0OTHER01"))
    finally:
        gate.execute("ROLLBACK")
        gate.close()
    await bot.settle()
    assert (True, True, 1) == (first.startswith("生成中…"), "合流" in second, len(bot.parents()))
    assert (True, True) == (
        "を投稿しました: http" in bot.answers("1")[-1],
        "すでに投稿しています: http" in bot.answers("2")[-1],
    )


async def test_ephemeral_visibility_shows_the_digest_to_the_asker_only(
    make_settings: Callable[..., Settings], bot_for: Any, slack: SlackServer
) -> None:
    """With ondemand_visibility = "ephemeral" nothing is posted to the channel."""
    bot = bot_for(make_settings(ondemand_visibility="ephemeral"))
    await bot.command("3d")
    await bot.settle()
    shown = slack.ephemeral(DIGEST_ID)
    assert ([], {"U0ASKER01"}, True) == (bot.parents(), {m["user"] for m in shown}, bool(shown[0]["blocks"]))
    assert "あなたにだけ" in bot.answers()[-1]


async def test_refusals_for_channels_and_users_not_allowed(
    make_settings: Callable[..., Settings], bot_for: Any
) -> None:
    """Outside allowed_channels, or by someone not in allowed_users: a plain refusal, no run."""
    bot = bot_for(make_settings(allowed_channels=["#llm-digest"], allowed_users=["U0BOSS"]))
    wrong_channel = body_text(await bot.command("3d", channel_id=RANDOM_ID, channel_name="random"))
    wrong_user = body_text(await bot.command("3d"))
    await bot.settle()
    assert ("このチャンネルでは `/digest` を使えません。使えるチャンネル: #llm-digest", True, []) == (
        wrong_channel,
        wrong_user.startswith("`/digest` を使う権限がありません"),
        bot.slack.calls("chat.postMessage"),
    )


async def test_help_and_categories_answer_in_japanese(
    make_settings: Callable[..., Settings], bot_for: Any
) -> None:
    """`help` explains every form; `categories` lists the ids to use."""
    bot = bot_for(make_settings(seed=False))
    help_text = body_text(await bot.command("help"))
    categories = body_text(await bot.command("categories"))
    assert (True, True, True, True) == (
        "`/digest 3d`" in help_text,
        "使い方" in help_text,
        "`efficiency` 計算量削減" in categories,
        "`/digest search <語>`" in help_text,
    )


def test_manifest_usage_hint_names_every_form() -> None:
    """Slack shows `usage_hint` while typing: it lists search and watch too."""
    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yml").read_text(encoding="utf-8"))
    hint = manifest["features"]["slash_commands"][0]["usage_hint"]
    forms = ("3d", "search", "watch", "categories", "help")
    assert list(forms) == [w for w in forms if w in hint]


async def test_digest_right_after_the_weekly_digest_says_so_instead_of_reposting(
    make_settings: Callable[..., Settings], bot_for: Any
) -> None:
    """`/digest 3d` whose items were all in the weekly digest just posted: a link to it, no second post."""
    settings = make_settings()
    outcome = await asyncio.to_thread(run_digest, settings, Window.since("7d"), fetch=False, dry_run=False)
    bot = bot_for(settings)
    await bot.command("3d")
    await bot.settle()
    assert (True, 1) == (outcome.digest.entry_count > 0, len(bot.parents()))  # the weekly one only
    assert bot.answers()[-1].startswith("直近のダイジェスト（http"), bot.answers()
    assert "と同じ内容なので" in bot.answers()[-1]


async def test_digest_watch_answers_the_watchlist_to_the_asker_only(
    make_settings: Callable[..., Settings], bot_for: Any
) -> None:
    """`/digest watch` through Bolt: the configured list (escaped) in the ack, nothing posted or run."""
    settings = make_settings(seed=False)
    watch = WatchConfig(authors=("José <b>Núñez</b>",), keywords=("RAG",), users=("@karaage0703",))
    bot = bot_for(settings.model_copy(update={"app": settings.app.model_copy(update={"watch": watch})}))
    answer = body_text(await bot.command("watch"))
    await bot.settle()
    assert (True, True, True, True, []) == (
        answer.startswith("*📌 注目リスト*"),
        "José &lt;b&gt;Núñez&lt;/b&gt;" in answer and "<b>" not in answer,
        "RAG" in answer,
        "@karaage0703" in answer,
        bot.slack.calls("chat.postMessage"),
    )


async def test_words_it_cannot_read_get_a_usage_hint(
    make_settings: Callable[..., Settings], bot_for: Any
) -> None:
    """An unknown word or a period out of range is explained; nothing runs."""
    bot = bot_for(make_settings(seed=False))
    unknown = body_text(await bot.command("quantum"))
    too_long = body_text(await bot.command("40d"))
    await bot.settle()
    assert (True, True, []) == (
        unknown.startswith("「quantum」は期間（例: `3d`）でもカテゴリでもありません"),
        too_long.startswith("期間は1〜31日で指定してください"),
        bot.slack.calls("chat.postMessage"),
    )


async def test_empty_window_is_said_not_posted(make_settings: Callable[..., Settings], bot_for: Any) -> None:
    """No items in the window: the asker is told so; the channel gets no empty digest."""
    bot = bot_for(make_settings(seed=False))
    await bot.command("3d")
    await bot.settle()
    assert ([], True) == (
        bot.parents(),
        bot.answers()[-1].startswith("この期間（直近3日・全カテゴリ）に該当する"),
    )


async def test_slack_error_is_answered_in_plain_japanese(
    make_settings: Callable[..., Settings], store_url: str
) -> None:
    """Asked in a channel the bot is not in: the answer says to invite the bot, not an error code."""
    with SlackServer(member_of=["llm-digest"]) as outside:
        services = BotServices(
            ConfigHolder(lambda: make_settings(via=outside)),
            progress_interval=0,
            notify_admin=lambda *_: None,
        )
        client = AsyncWebClient(token=outside.token, base_url=outside.api_url)
        bot = Bot(
            build_app(services, client, signing_secret=SECRET, process_before_response=True),
            services,
            outside,
        )
        await bot.command("3d", channel_id=RANDOM_ID, channel_name="random")
        await bot.settle()
        services.close()
        answer = bot.answers()[-1]
    assert (True, False) == ("`/invite @digestbot` で招待してから" in answer, "not_in_channel" in answer)


async def test_unsigned_request_is_rejected(make_settings: Callable[..., Settings], bot_for: Any) -> None:
    """A request signed with another secret gets 401 and runs nothing."""
    bot = bot_for(make_settings())
    response = await bot.command("3d", secret="not-the-secret")
    await bot.settle()
    assert (401, []) == (response.status, bot.slack.responses())


async def test_socket_mode_command_is_acked_within_3_seconds_and_delivered(
    make_settings: Callable[..., Settings], slack: SlackServer
) -> None:
    """Through a local Socket Mode server, as in production: the ack comes first, the post follows."""
    settings = make_settings()
    services = BotServices(ConfigHolder(lambda: settings), progress_interval=0, notify_admin=lambda *_: None)
    client = AsyncWebClient(token=slack.token, base_url=slack.api_url)
    app = build_app(services, client)
    with SocketModeServer() as socket:
        slack.socket_mode_url = socket.url
        handler = AsyncSocketModeHandler(app, slack.app_token, web_client=client)
        await handler.connect_async()
        try:
            assert await asyncio.to_thread(socket.wait_connected, 10)
            envelope = socket.slash_command("3d", response_url=slack.response_url("s"))
            ack = await asyncio.to_thread(socket.wait_ack, envelope, 3.0)
            assert await services.tasks.join(within=60)
        finally:
            await handler.close_async()
            services.close()
    assert ack is not None and ack.payload is not None
    parents = [m for m in slack.messages(DIGEST_ID) if "thread_ts" not in m]
    assert (True, 1) == (str(ack.payload["text"]).startswith("生成中…"), len(parents))


def test_parse_scope_reads_periods_and_categories(make_settings: Callable[..., Settings]) -> None:
    """Days, weeks and 日; a category by id or name; in any order."""
    settings = make_settings(seed=False)
    read = [
        parse_scope(words, settings) for words in ([], ["3d"], ["2w"], ["3日"], ["rag", "3d"], ["計算量削減"])
    ]
    assert [Scope(7), Scope(3), Scope(14), Scope(3), Scope(3, "rag"), Scope(7, "efficiency")] == read


def test_parse_scope_refuses_two_periods_or_two_categories(make_settings: Callable[..., Settings]) -> None:
    """Ambiguous requests are refused with a Japanese explanation."""
    settings = make_settings(seed=False)
    messages = []
    for words in (["3d", "7d"], ["rag", "efficiency"], ["0d"]):
        with pytest.raises(UsageError) as caught:
            parse_scope(words, settings)
        messages.append(str(caught.value)[:8])
    assert ["期間は1つだけ指", "カテゴリは1つだ", "期間は1〜31日"] == messages


def test_refusal_matches_channel_ids_and_names(make_settings: Callable[..., Settings]) -> None:
    """allowed_channels may hold IDs or names (with or without #); allowed_users IDs or names."""
    slack = make_settings(
        seed=False, allowed_channels=["C0DIGEST01", "random"], allowed_users=["asker"]
    ).app.slack
    command = {
        "channel_id": "C0DIGEST01",
        "channel_name": "llm-digest",
        "user_id": "U1",
        "user_name": "asker",
    }
    by_name = {**command, "channel_id": "C0RANDOM02", "channel_name": "random"}
    other = {**command, "channel_id": "C0OTHER003", "channel_name": "other"}
    assert (None, None, True) == (
        refusal(command, slack),
        refusal(by_name, slack),
        refusal(other, slack) is not None,
    )


def test_progress_line_counts_each_stage() -> None:
    """Classify totals come with the candidates, summarize/judge totals with the classified count."""
    progress = Progress()
    for stage, n in (("candidates", 10), ("classify", 10), ("classified", 4), ("summarize", 1)):
        progress.update(stage, n)
    assert "生成中…（直近3日・全カテゴリ） 分類 10/10・要約 1/4・審査 0/4" == progress.text(
        "直近3日・全カテゴリ"
    )


async def test_unreachable_database_still_acks_and_says_so(slack: SlackServer, tmp_path: Path) -> None:
    """The store is down: the command is acked anyway and the asker is told in plain Japanese."""
    folder = write_config(tmp_path / "config", ROOT / "config" / "categories.toml")
    down = "postgresql+psycopg://postgres@127.0.0.1:9/nothing?connect_timeout=2"
    env = worker_environ(folder, tmp_path / "data", down, slack.api_url, bot_token=slack.token)
    settings = load_settings(folder, env, env_file=tmp_path / "no.env")
    services = BotServices(ConfigHolder(lambda: settings), progress_interval=0, notify_admin=lambda *_: None)
    client = AsyncWebClient(token=slack.token, base_url=slack.api_url)
    bot = Bot(
        build_app(services, client, signing_secret=SECRET, process_before_response=True), services, slack
    )
    try:
        acked = body_text(await bot.command("3d"))
        await bot.settle()
    finally:
        services.close()
    assert (True, "データベースに接続できませんでした。しばらくしてから、もう一度お試しください。") == (
        acked.startswith("生成中…"),
        bot.answers()[-1],
    )


async def test_private_answer_in_a_channel_without_the_bot_says_to_invite_it(
    make_settings: Callable[..., Settings],
) -> None:
    """Ephemeral results need the bot in the channel too: chat.postEphemeral's refusal becomes advice."""
    with SlackServer(member_of=["llm-digest"]) as outside:
        settings = make_settings(via=outside, ondemand_visibility="ephemeral")
        services = BotServices(
            ConfigHolder(lambda: settings), progress_interval=0, notify_admin=lambda *_: None
        )
        client = AsyncWebClient(token=outside.token, base_url=outside.api_url)
        bot = Bot(
            build_app(services, client, signing_secret=SECRET, process_before_response=True),
            services,
            outside,
        )
        try:
            await bot.command("3d", channel_id=RANDOM_ID, channel_name="random")
            await bot.settle()
        finally:
            services.close()
        answer = bot.answers()[-1]
    assert (True, []) == ("`/invite @digestbot` で招待してから" in answer, outside.ephemeral())
