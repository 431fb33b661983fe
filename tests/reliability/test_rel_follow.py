"""Follow topics under faults and hostile input: hostile item text, a member Slack refuses a DM to,
a DM lost mid-send, a re-run. Through the local Slack server with the real Bolt app and WebClient."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from digestbot.settings import Settings
from digestbot.store import follow_dms as ledger
from digestbot.store.schema import open_engine
from digestbot.testing.slack_server import SlackServer
from support.follow_bot import (
    ALICE,
    BOB,
    GONE,
    Bot,
    bot_maker,
    channel_blocks,
    dms,
    members_server,
    settings_maker,
    weekly,
)
from support.worker_env import sample_items


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
