"""The scheduled jobs: fresh config per run, one weekly post per period across workers and crashes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from digestbot import jobs
from digestbot.config_reload import ConfigHolder
from digestbot.domain import Window
from digestbot.locks import find_run, hold_lock, start_run
from digestbot.scheduler import cron_trigger
from digestbot.settings import CronConfig, Settings, load_settings
from digestbot.store import ItemStore
from digestbot.store.schema import open_engine
from digestbot.testing.feed_builders import synthetic_zenn_articles
from digestbot.testing.feed_server import FeedServer
from digestbot.testing.slack_server import SlackServer
from support.worker_env import sample_items, worker_environ, write_config

ROOT = Path(__file__).resolve().parents[1]
JST = ZoneInfo("Asia/Tokyo")
CHANNEL_ID = "C0DIGEST01"


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def make_settings(slack: SlackServer, store_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        folder = write_config(tmp_path / "config", ROOT / "config" / "categories.toml", **overrides)
        env = worker_environ(folder, tmp_path / "data", store_url, slack.api_url, bot_token=slack.token)
        return load_settings(folder, env, env_file=tmp_path / "no.env")

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Default schedule, with yesterday's papers in the store."""
    made = make_settings()
    with ItemStore(made.store_url) as store:
        store.upsert(sample_items(datetime.now(UTC) - timedelta(days=1)))
    return made


@pytest.fixture
def runtime(settings: Settings) -> Iterator[jobs.JobRuntime]:
    installed = jobs.JobRuntime(ConfigHolder(lambda: settings), notify_admin=lambda *_: None)
    jobs.configure(installed)
    yield installed
    jobs.configure(None)


def parents(slack: SlackServer, channel_id: str = CHANNEL_ID) -> list[dict[str, Any]]:
    return [m for m in slack.messages(channel_id) if "thread_ts" not in m]


def test_weekly_window_is_the_seven_days_before_the_scheduled_monday(settings: Settings) -> None:
    """Monday 09:00 (or a catch-up at 09:50) covers Mon..Sun before; the key names channel and period."""
    on_time = jobs.weekly_window(settings, datetime(2025, 11, 24, 9, 0, 5, tzinfo=JST))
    caught_up = jobs.weekly_window(settings, datetime(2025, 11, 24, 9, 50, tzinfo=JST))
    assert (on_time, "weekly_digest:#llm-digest:2025-11-17..2025-11-23") == (
        caught_up,
        jobs.weekly_key(settings, on_time),
    )


def test_scheduled_time_is_the_latest_fire_within_the_grace() -> None:
    """For a frequent trigger the run belongs to the latest fire; outside any fire it is `now`."""
    every_two = cron_trigger(CronConfig(day_of_week="*", hour="*", minute="*", second="*/2"), "Asia/Tokyo")
    weekly = cron_trigger(CronConfig(day_of_week="mon", hour="9"), "Asia/Tokyo")
    now = datetime(2025, 11, 20, 12, 0, 5, 500, tzinfo=JST)
    assert (datetime(2025, 11, 20, 12, 0, 4, tzinfo=JST), now) == (
        jobs.scheduled_time(every_two, now, timedelta(hours=1)),
        jobs.scheduled_time(weekly, now, timedelta(hours=1)),
    )


def test_weekly_digest_posts_once_per_period(runtime: jobs.JobRuntime, slack: SlackServer) -> None:
    """The first run posts and closes its ledger row; the next one finds it done and posts nothing."""
    first, second = jobs.weekly_digest(), jobs.weekly_digest()
    settings = runtime.config.current()
    engine = open_engine(settings.store_url)
    try:
        run = find_run(engine, jobs.weekly_key(settings, jobs.weekly_window(settings, datetime.now(UTC))))
    finally:
        engine.dispose()
    assert run is not None
    assert ("posted", "already_done", 1, "done") == (first, second, len(parents(slack)), run.status)


def test_two_workers_racing_post_once(runtime: jobs.JobRuntime, slack: SlackServer) -> None:
    """Two workers firing at the same instant: the lock and the ledger give one post."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def worker() -> None:
        barrier.wait(timeout=10)
        outcomes.append(jobs.weekly_digest())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert (1, 1) == (outcomes.count("posted"), len(parents(slack)))
    assert outcomes.count("busy") + outcomes.count("already_done") == 1


def test_run_left_running_by_a_dead_worker_is_resumed_once(
    runtime: jobs.JobRuntime, slack: SlackServer
) -> None:
    """A ledger row still `running` whose lock is free is finished at start-up, and only once."""
    settings = runtime.config.current()
    window = jobs.weekly_window(settings, datetime.now(UTC))
    engine = open_engine(settings.store_url)
    try:
        args = {"start": window.start.isoformat(), "end": window.end.isoformat()}
        start_run(engine, jobs.weekly_key(settings, window), job=jobs.WEEKLY, args=args)
    finally:
        engine.dispose()
    assert (["posted"], [], 1) == (jobs.resume_interrupted(), jobs.resume_interrupted(), len(parents(slack)))


def test_run_held_by_a_live_worker_is_not_resumed(runtime: jobs.JobRuntime, slack: SlackServer) -> None:
    """While another worker holds the run's lock, resuming leaves it alone."""
    settings = runtime.config.current()
    window = jobs.weekly_window(settings, datetime.now(UTC))
    key = jobs.weekly_key(settings, window)
    engine = open_engine(settings.store_url)
    try:
        start_run(
            engine,
            key,
            job=jobs.WEEKLY,
            args={"start": window.start.isoformat(), "end": window.end.isoformat()},
        )
        with hold_lock(engine, key) as held:
            outcome = jobs.resume_interrupted()
    finally:
        engine.dispose()
    assert (True, ["busy"], []) == (held, outcome, parents(slack))


def test_shutdown_stops_the_run_at_a_safe_point_and_it_resumes(
    runtime: jobs.JobRuntime, slack: SlackServer
) -> None:
    """With SIGTERM's flag set the run stops before the agents, stays `running`, and the next start posts."""
    runtime.stop.set()
    stopped = jobs.weekly_digest()
    settings = runtime.config.current()
    engine = open_engine(settings.store_url)
    try:
        run = find_run(engine, jobs.weekly_key(settings, jobs.weekly_window(settings, datetime.now(UTC))))
    finally:
        engine.dispose()
    runtime.stop.clear()
    assert run is not None
    assert ("stopped", "running", []) == (stopped, run.status, parents(slack))
    assert (["posted"], 1) == (jobs.resume_interrupted(), len(parents(slack)))


def test_failed_post_is_recorded_and_reported_to_the_admin_channel(
    make_settings: Callable[..., Settings], slack: SlackServer
) -> None:
    """A channel the bot cannot post to: the ledger says why and the admin channel hears of it."""
    settings = make_settings(slack={"channel": "#missing", "admin_channel": "#random"})
    jobs.configure(jobs.JobRuntime(ConfigHolder(lambda: settings)))
    try:
        outcome = jobs.weekly_digest()
    finally:
        jobs.configure(None)
    engine = open_engine(settings.store_url)
    try:
        run = find_run(engine, jobs.weekly_key(settings, jobs.weekly_window(settings, datetime.now(UTC))))
    finally:
        engine.dispose()
    admin = slack.messages("C0RANDOM02")
    assert run is not None and run.error is not None
    assert ("failed", "failed", True, 1) == (
        outcome,
        run.status,
        "channel_not_found" in run.error,
        len(admin),
    )
    assert "週次ダイジェスト" in admin[0]["text"]


def test_each_run_reads_the_configuration_fresh(
    make_settings: Callable[..., Settings], slack: SlackServer, tmp_path: Path
) -> None:
    """A channel edited between two runs is used by the second run, without a restart."""
    first = make_settings()
    env = worker_environ(
        first.config_dir, tmp_path / "data", first.store_url, slack.api_url, bot_token=slack.token
    )
    holder = ConfigHolder(lambda: load_settings(first.config_dir, env, env_file=tmp_path / "no.env"))
    jobs.configure(jobs.JobRuntime(holder))
    try:
        make_settings(slack={"channel": "#random"})  # the edit, on disk
        outcome = jobs.weekly_digest()
    finally:
        jobs.configure(None)
    assert ("posted", 0, 1) == (outcome, len(parents(slack)), len(parents(slack, "C0RANDOM02")))


def test_ingest_feeds_stores_zenn_articles(make_settings: Callable[..., Settings]) -> None:
    """The feed job fetches the enabled feed sources into the store; arXiv's job skips when disabled."""
    now = datetime.now(UTC)
    with FeedServer() as feeds:
        feeds.publish_zenn(synthetic_zenn_articles(4, seed=2, end=now, days=1), topics=["llm"])
        zenn = {"enabled": True, "base_url": feeds.base_url, "topics": ["llm"], "enrich_with_api": False}
        settings = make_settings(sources={"zenn": zenn})
        jobs.configure(jobs.JobRuntime(ConfigHolder(lambda: settings)))
        try:
            outcomes = (jobs.ingest_feeds(), jobs.ingest_arxiv())
        finally:
            jobs.configure(None)
    with ItemStore(settings.store_url) as store:
        stored = store.items_in_window(Window(now - timedelta(days=2), now + timedelta(minutes=1)))
    assert (("done", "skipped"), 4) == (outcomes, len(stored))
