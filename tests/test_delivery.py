"""Idempotent delivery: one digest per (channel, period), crash recovery, archive in the store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from digestbot.delivery import (
    DeliveryRefused,
    DeliveryResult,
    deliver,
    period_key,
    reconcile_pending,
    save_blocks,
)
from digestbot.digest_json import digest_to_dict
from digestbot.domain import Digest, Window
from digestbot.settings import Settings, load_settings
from digestbot.slack.errors import SlackDeliveryError
from digestbot.slack.publish import SlackPublisher
from digestbot.slack.render import render_digest
from digestbot.store import digests as posts
from digestbot.store.schema import open_engine
from digestbot.testing.slack_server import SlackServer
from support.sample_digest import WINDOW, large_digest, representative_digest, trends_digest

CONFIG = Path(__file__).resolve().parents[1] / "config"
PERIOD = "2026-11-16..2026-11-22"
CHANNEL_ID = "C0DIGEST01"


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """The store on SQLite and on PostgreSQL (see conftest's `store_url`)."""
    store = open_engine(store_url)
    yield store
    store.dispose()


def make_settings(slack: SlackServer, tmp_path: Path, channel: str = "#llm-digest") -> Settings:
    env = {
        "DIGESTBOT_SLACK_API_URL": slack.api_url,
        "DIGESTBOT_SLACK_CHANNEL": channel,
        "SLACK_BOT_TOKEN": slack.token,
        "DIGESTBOT_DATA_DIR": str(tmp_path),
    }
    return load_settings(CONFIG, env, env_file=tmp_path / "no.env")


def send(
    digest: Digest, slack: SlackServer, tmp_path: Path, engine: Engine, **options: Any
) -> DeliveryResult:
    """Deliver without really waiting between posts."""
    return deliver(digest, make_settings(slack, tmp_path), engine, sleep=lambda _: None, **options)


def parents(slack: SlackServer) -> list[dict[str, object]]:
    return [m for m in slack.messages(CHANNEL_ID) if "thread_ts" not in m]


def test_period_key_is_the_local_days_covered() -> None:
    """The key matches what the header shows (11/16–11/22), in ISO form."""
    assert period_key(WINDOW, "Asia/Tokyo") == PERIOD


def test_save_blocks_writes_the_payloads_that_would_be_posted(slack: SlackServer, tmp_path: Path) -> None:
    """--dry-run output: data/digests/blocks.json holds exactly the rendered messages."""
    settings = make_settings(slack, tmp_path)
    path = save_blocks(representative_digest(), settings)
    expected = render_digest(representative_digest(), fixes=True)
    assert (path, json.loads(path.read_text(encoding="utf-8"))) == (
        tmp_path / "digests" / "blocks.json",
        expected,
    )
    assert slack.requests == []


def test_first_delivery_posts_and_archives_the_digest(
    slack: SlackServer, tmp_path: Path, engine: Engine
) -> None:
    """Posted once; the store holds channel, every ts, the permalink, the items and the digest."""
    digest = representative_digest()
    result = send(digest, slack, tmp_path, engine)
    row = posts.find_post(engine, "#llm-digest", PERIOD)
    assert row is not None
    assert (result.action, row.status, row.channel_id, row.ts, row.permalink) == (
        "posted",
        "posted",
        CHANNEL_ID,
        result.ts,
        result.permalink,
    )
    assert row.item_ids == tuple(e.item.id for s in digest.sections for e in s.entries)
    assert row.digest == digest_to_dict(digest)
    assert result.permalink is not None and result.permalink.endswith(result.ts[0].replace(".", ""))


def test_running_again_refuses_without_force(slack: SlackServer, tmp_path: Path, engine: Engine) -> None:
    """The second run posts nothing and says how to update instead."""
    send(representative_digest(), slack, tmp_path, engine)
    with pytest.raises(DeliveryRefused) as caught:
        send(representative_digest(), slack, tmp_path, engine)
    assert (len(slack.calls("chat.postMessage")), "--force" in str(caught.value)) == (1, True)


def test_force_updates_the_posted_messages_in_place(
    slack: SlackServer, tmp_path: Path, engine: Engine
) -> None:
    """--force edits with chat.update; a longer digest adds replies to the same thread."""
    first = send(representative_digest(), slack, tmp_path, engine)
    again = send(large_digest(categories=3, per_category=25), slack, tmp_path, engine, force=True)
    assert (again.action, again.ts[0], len(parents(slack))) == ("updated", first.ts[0], 1)
    assert len(slack.calls("chat.update")) == 1
    assert len(slack.messages(CHANNEL_ID)) == again.messages


def test_crash_after_posting_before_recording_is_reconciled(
    slack: SlackServer, tmp_path: Path, engine: Engine
) -> None:
    """The run died after Slack took every part but before the store knew: the restart posts nothing."""
    digest = large_digest(categories=3, per_category=25)
    settings = make_settings(slack, tmp_path)
    data = digest_to_dict(digest)
    posts.record_intent(
        engine, channel="#llm-digest", period=PERIOD, digest=data, item_ids=[], now=datetime.now(UTC)
    )
    publisher = SlackPublisher.from_settings(settings, sleep=lambda _: None)
    posted = publisher.publish(
        "#llm-digest", render_digest(digest, fixes=True), period=PERIOD
    )  # ...then the process died
    result = send(digest, slack, tmp_path, engine)
    assert (result.action, result.ts, len(slack.calls("chat.postMessage"))) == (
        "reconciled",
        tuple(posted),
        len(posted),
    )
    assert len(slack.calls("chat.update")) == 0
    assert posts.find_post(engine, "#llm-digest", PERIOD).status == "posted"  # type: ignore[union-attr]


def test_lost_answer_mid_digest_then_restart_posts_only_the_missing_parts(
    slack: SlackServer, tmp_path: Path, engine: Engine
) -> None:
    """Slack took part 1 but the answer was lost: the row stays intent; the rerun finds it and goes on."""
    digest = large_digest(categories=3, per_category=25)
    slack.fault("disconnect_after", method="chat.postMessage")
    with pytest.raises(SlackDeliveryError) as caught:
        send(digest, slack, tmp_path, engine)
    assert (caught.value.maybe_posted, posts.find_post(engine, "#llm-digest", PERIOD).status) == (
        True,
        "intent",
    )  # type: ignore[union-attr]
    result = send(digest, slack, tmp_path, engine)
    assert (result.action, len(parents(slack)), len(slack.messages(CHANNEL_ID))) == (
        "reconciled",
        1,
        result.messages,
    )
    assert [m.get("thread_ts") for m in slack.messages(CHANNEL_ID)[1:]] == [result.ts[0]] * (
        result.messages - 1
    )


def test_failure_mid_thread_keeps_what_was_posted_and_resumes(
    slack: SlackServer, tmp_path: Path, engine: Engine
) -> None:
    """Part 2 is refused (rate limit for an hour): the row is failed with part 1; the rerun posts the rest."""
    digest = large_digest(categories=3, per_category=25)
    slack.fault("rate_limit", method="chat.postMessage", retry_after=3600, after=1)
    with pytest.raises(SlackDeliveryError):
        send(digest, slack, tmp_path, engine)
    row = posts.find_post(engine, "#llm-digest", PERIOD)
    assert row is not None and (row.status, len(row.ts)) == ("failed", 1)
    assert "rate-limiting" in (row.error or "")
    result = send(digest, slack, tmp_path, engine)
    assert (result.ts[0], len(parents(slack)), len(slack.messages(CHANNEL_ID))) == (
        row.ts[0],
        1,
        result.messages,
    )


def test_not_in_channel_marks_failed_and_succeeds_after_the_invite(tmp_path: Path, engine: Engine) -> None:
    """The error names the fix; once the bot is invited the same command posts."""
    with SlackServer(member_of=["random"]) as slack:
        with pytest.raises(SlackDeliveryError) as caught:
            send(representative_digest(), slack, tmp_path, engine)
        row = posts.find_post(engine, "#llm-digest", PERIOD)
        assert (row.status if row else None, "invite the bot to #llm-digest" in str(caught.value)) == (
            "failed",
            True,
        )
    with SlackServer() as slack:
        assert send(representative_digest(), slack, tmp_path, engine).action == "posted"


def test_slack_down_fails_cleanly_and_the_rerun_posts(
    slack: SlackServer, tmp_path: Path, engine: Engine
) -> None:
    """With Slack unreachable nothing could have been posted: failed, then posted after the outage."""
    slack.stop()
    with pytest.raises(SlackDeliveryError) as caught:
        send(representative_digest(), slack, tmp_path, engine)
    assert (caught.value.code, posts.find_post(engine, "#llm-digest", PERIOD).status) == (
        "connection_error",
        "failed",
    )  # type: ignore[union-attr]
    slack.restart()
    assert send(representative_digest(), slack, tmp_path, engine).action == "posted"


def test_crash_before_the_channel_id_was_known_looks_it_up(
    slack: SlackServer, tmp_path: Path, engine: Engine
) -> None:
    """An intent row without a channel ID is reconciled via conversations.list."""
    digest = representative_digest()
    posts.record_intent(
        engine, channel="#llm-digest", period=PERIOD, digest=digest_to_dict(digest), item_ids=[]
    )
    SlackPublisher.from_settings(make_settings(slack, tmp_path)).publish(
        "#llm-digest", render_digest(digest, fixes=True), period=PERIOD
    )
    result = send(digest, slack, tmp_path, engine)
    assert (result.action, len(slack.calls("conversations.list")), len(slack.calls("chat.postMessage"))) == (
        "reconciled",
        1,
        1,
    )


def test_another_period_is_a_new_digest(slack: SlackServer, tmp_path: Path, engine: Engine) -> None:
    """Idempotency is per period: next week's digest posts normally."""
    send(representative_digest(), slack, tmp_path, engine)
    week = WINDOW.end - WINDOW.start
    next_week = replace(representative_digest(), window=Window(WINDOW.end, WINDOW.end + week))
    assert send(next_week, slack, tmp_path, engine).period == "2026-11-23..2026-11-29"
    assert len(parents(slack)) == 2


def test_reconcile_pending_finishes_interrupted_deliveries(
    slack: SlackServer, tmp_path: Path, engine: Engine
) -> None:
    """At start-up every intent row is completed from the digest stored with it."""
    slack.fault("disconnect", method="chat.postMessage")
    with pytest.raises(SlackDeliveryError):
        send(representative_digest(), slack, tmp_path, engine)
    results = reconcile_pending(make_settings(slack, tmp_path), engine, sleep=lambda _: None)
    assert ([r.action for r in results], len(parents(slack))) == (["posted"], 1)
    assert posts.pending_intents(engine) == []


def test_weekly_digest_with_trends_gets_the_chart_in_its_thread_once(
    slack: SlackServer, tmp_path: Path, engine: Engine
) -> None:
    """The parent shows the trends; the chart PNG goes into its thread, and not again on --force."""
    digest = trends_digest()
    first = send(digest, slack, tmp_path, engine)
    again = send(digest, slack, tmp_path, engine, force=True)
    parent = parents(slack)[0]
    shared = [m for m in slack.messages(CHANNEL_ID) if m.get("files")]
    uploaded = slack.files()
    (tmp_path / "chart.png").write_bytes(uploaded[0]["data"])
    assert "*📈 今週の傾向*（前4週との比較）" in json.dumps(parent["blocks"], ensure_ascii=False)
    assert ([first.ts[0]], b"\x89PNG", 1) == (
        [m["thread_ts"] for m in shared],
        uploaded[0]["data"][:4],
        len(uploaded),
    )
    assert (first.chart_file_id, "") == (again.chart_file_id, again.chart_error)


def test_a_chart_upload_failure_never_fails_the_delivery(
    slack: SlackServer, tmp_path: Path, engine: Engine
) -> None:
    """Without files:write the digest is still posted; the result says why the chart is missing."""
    slack.fault("error", method="files.getUploadURLExternal", error="missing_scope")
    result = send(trends_digest(), slack, tmp_path, engine)
    assert ("posted", None) == (result.action, result.chart_file_id)
    assert result.chart_error.startswith("the trends chart was not uploaded:")


def test_no_chart_without_trends_or_when_turned_off(
    slack: SlackServer, tmp_path: Path, engine: Engine
) -> None:
    """A digest without a trends section uploads nothing."""
    send(representative_digest(), slack, tmp_path, engine)
    assert [] == slack.calls("files.getUploadURLExternal")
