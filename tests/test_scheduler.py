"""The scheduler: cron triggers from config (day names, JST), jobs in the database, catch-up once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from digestbot import jobs
from digestbot.config_reload import ConfigHolder
from digestbot.scheduler import JOBS, PERSISTENT, build_scheduler, check_schedule, cron_trigger, sync_jobs
from digestbot.settings import ConfigError, CronConfig, ScheduleConfig, Settings, load_settings
from digestbot.store import ItemStore
from digestbot.testing.slack_server import SlackServer
from support.worker_env import sample_items, worker_environ, write_config

ROOT = Path(__file__).resolve().parents[1]
JST = ZoneInfo("Asia/Tokyo")
EVERY_MINUTE = {"day_of_week": "*", "hour": "*", "minute": "*", "second": "0"}


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def settings_for(slack: SlackServer, store_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings on the test store and the fake Slack, with the given weekly schedule and grace."""

    def make(weekly: Mapping[str, str] | None = None, grace: int = 3600) -> Settings:
        folder = write_config(
            tmp_path / "config",
            ROOT / "config" / "categories.toml",
            weekly=weekly or CronConfig(day_of_week="mon", hour="9").model_dump(),
            schedule={"misfire_grace_seconds": grace},
        )
        env = worker_environ(folder, tmp_path / "data", store_url, slack.api_url, bot_token=slack.token)
        return load_settings(folder, env, env_file=tmp_path / "no.env")

    return make


@pytest.fixture
def runtime_for() -> Iterator[Callable[[Settings], jobs.JobRuntime]]:
    """Install a job runtime whose config holder returns `settings`; reset afterwards."""

    def install(settings: Settings) -> jobs.JobRuntime:
        runtime = jobs.JobRuntime(ConfigHolder(lambda: settings))
        jobs.configure(runtime)
        return runtime

    yield install
    jobs.configure(None)


def started(settings: Settings) -> BaseScheduler:
    """A scheduler on the store, started paused (as `serve` does) with its jobs synced."""
    scheduler = build_scheduler(settings, scheduler_class=BackgroundScheduler)
    scheduler.start(paused=True)
    sync_jobs(scheduler, settings.app.schedule)
    return scheduler


def stored_due(settings: Settings, when: datetime) -> None:
    """A worker that synced its jobs, had the weekly run stored for `when`, and died (never ran it)."""
    loop = asyncio.new_event_loop()
    scheduler = build_scheduler(settings, event_loop=loop)  # an AsyncIOScheduler whose loop never runs
    scheduler.start(paused=True)
    sync_jobs(scheduler, settings.app.schedule)
    scheduler.modify_job("weekly_digest", jobstore=PERSISTENT, next_run_time=when)
    loop.close()


class Events:
    """Job events of one scheduler, with a bounded wait for the first final one."""

    def __init__(self, scheduler: BaseScheduler) -> None:
        self.seen: list[JobEvent] = []
        self.final = threading.Event()
        mask = EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
        scheduler.add_listener(self._on, mask)

    def _on(self, event: JobEvent) -> None:
        self.seen.append(event)
        if event.code != EVENT_JOB_SUBMITTED:
            self.final.set()

    def codes(self, job_id: str) -> list[int]:
        """The event codes of `job_id`, sorted (a job's outcome may be dispatched before its submission)."""
        return sorted(e.code for e in self.seen if e.job_id == job_id)


def test_weekly_trigger_fires_monday_0900_tokyo() -> None:
    """From a Wednesday noon JST the next fire is Monday 09:00 JST, then the Monday after."""
    trigger = cron_trigger(ScheduleConfig().weekly_digest, "Asia/Tokyo")
    first = trigger.get_next_fire_time(None, datetime(2025, 11, 19, 12, 0, tzinfo=JST))
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    assert (datetime(2025, 11, 24, 9, 0, tzinfo=JST), 0, datetime(2025, 12, 1, 9, 0, tzinfo=JST)) == (
        first,
        first.weekday(),
        second,
    )


def test_weekly_trigger_is_inclusive_and_timezone_aware() -> None:
    """Exactly at Mon 09:00 JST it fires then; Sunday 23:30 UTC is Monday 08:30 JST."""
    trigger = cron_trigger(ScheduleConfig().weekly_digest, "Asia/Tokyo")
    at_nine = datetime(2025, 11, 24, 9, 0, tzinfo=JST)
    assert (at_nine, at_nine) == (
        trigger.get_next_fire_time(None, at_nine),
        trigger.get_next_fire_time(None, datetime(2025, 11, 23, 23, 30, tzinfo=UTC)),
    )


def test_crontab_digits_are_refused_because_monday_is_zero() -> None:
    """`from_crontab('0 9 * * 1')` fires on a Tuesday in APScheduler 3, so config digits are refused."""
    crontab = CronTrigger.from_crontab("0 9 * * 1", timezone="Asia/Tokyo")
    tuesday = crontab.get_next_fire_time(None, datetime(2025, 11, 19, 12, 0, tzinfo=JST))
    bad = ScheduleConfig(weekly_digest=CronConfig(day_of_week="1", hour="9"))
    with pytest.raises(ConfigError) as caught:
        check_schedule(bad)
    assert (1, True) == (tuesday.weekday(), "schedule.weekly_digest.day_of_week" in str(caught.value))


def test_schedule_problems_name_the_key() -> None:
    """A wrong day name or time zone is a ConfigError naming the entry; steps like */2 are fine."""
    check_schedule(ScheduleConfig(ingest_feeds=CronConfig(day_of_week="*/2", hour="*/4")))
    messages = []
    for schedule in (
        ScheduleConfig(ingest_arxiv=CronConfig(day_of_week="monday-fri")),
        ScheduleConfig(timezone="Mars/Olympus"),
    ):
        with pytest.raises(ConfigError) as caught:
            check_schedule(schedule)
        messages.append(str(caught.value).split(":")[0])
    assert ["schedule.ingest_arxiv", "schedule.weekly_digest"] == messages


def test_sync_adds_the_jobs_by_reference_with_coalesce_and_grace(
    settings_for: Callable[..., Settings],
) -> None:
    """Three jobs, textual references, one instance each, coalesced, the configured grace."""
    settings = settings_for(grace=1800)
    scheduler = started(settings)
    try:
        found = {
            job.id: (job.func_ref, job.coalesce, job.max_instances, job.misfire_grace_time)
            for job in scheduler.get_jobs(jobstore=PERSISTENT)
        }
    finally:
        scheduler.shutdown()
    assert {job_id: (ref, True, 1, 1800) for job_id, ref in JOBS.items()} == found


def test_restart_keeps_the_stored_next_run_time(settings_for: Callable[..., Settings]) -> None:
    """A second worker with the same schedule changes nothing, so a stored run time survives."""
    settings = settings_for()
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    stored_due(settings, due)
    second = build_scheduler(settings, scheduler_class=BackgroundScheduler)
    second.start(paused=True)
    try:
        changes = sync_jobs(second, settings.app.schedule)
        job = second.get_job("weekly_digest", jobstore=PERSISTENT)
    finally:
        second.shutdown()
    assert job is not None
    assert ([], due) == (changes, job.next_run_time)


def test_changed_schedule_replaces_the_job_but_keeps_a_due_run(settings_for: Callable[..., Settings]) -> None:
    """An edited trigger takes effect; a run that was already due still happens (not silently dropped)."""
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    stored_due(settings_for(), due)
    edited = settings_for(weekly={"day_of_week": "tue", "hour": "10", "minute": "0"})
    scheduler = build_scheduler(edited, scheduler_class=BackgroundScheduler)
    scheduler.start(paused=True)
    try:
        changes = sync_jobs(scheduler, edited.app.schedule)
        job = scheduler.get_job("weekly_digest", jobstore=PERSISTENT)
    finally:
        scheduler.shutdown()
    assert job is not None
    assert (["updated weekly_digest"], due, "tue") == (
        [c.split(":")[0] for c in changes],
        job.next_run_time,
        str(job.trigger.fields[4]),
    )


def test_missed_weekly_run_is_caught_up_exactly_once(
    settings_for: Callable[..., Settings], runtime_for: Callable[[Settings], Any], slack: SlackServer
) -> None:
    """Due 10 minutes ago while no worker ran: the returning worker posts once, then waits for Monday."""
    settings = settings_for()
    with ItemStore(settings.store_url) as store:
        store.upsert(sample_items(datetime.now(UTC) - timedelta(days=1)))
    stored_due(settings, datetime.now(UTC) - timedelta(minutes=10))
    runtime_for(settings)
    scheduler = build_scheduler(settings, scheduler_class=BackgroundScheduler)
    events = Events(scheduler)
    scheduler.start(paused=True)
    sync_jobs(scheduler, settings.app.schedule)
    scheduler.resume()
    try:
        assert events.final.wait(timeout=30)
        job = scheduler.get_job("weekly_digest", jobstore=PERSISTENT)
    finally:
        scheduler.shutdown()
    assert job is not None
    parents = [m for m in slack.messages("C0DIGEST01") if "thread_ts" not in m]
    next_run = job.next_run_time.astimezone(JST)
    assert (sorted([EVENT_JOB_SUBMITTED, EVENT_JOB_EXECUTED]), 1) == (
        events.codes("weekly_digest"),
        len(parents),
    )
    assert ((0, 9, 0), True) == (
        (next_run.weekday(), next_run.hour, next_run.minute),
        next_run > datetime.now(JST),
    )


def test_many_missed_runs_are_coalesced_into_one(
    settings_for: Callable[..., Settings], runtime_for: Callable[[Settings], Any]
) -> None:
    """Thirty missed per-minute runs within the grace are submitted as a single run."""
    settings = settings_for(weekly=EVERY_MINUTE)
    stored_due(settings, datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30))
    runtime_for(settings)
    scheduler = build_scheduler(settings, scheduler_class=BackgroundScheduler)
    events = Events(scheduler)
    scheduler.start(paused=True)
    sync_jobs(scheduler, settings.app.schedule)
    scheduler.resume()
    try:
        assert events.final.wait(timeout=30)
    finally:
        scheduler.shutdown()
    submitted = [e for e in events.seen if e.job_id == "weekly_digest" and e.code == EVENT_JOB_SUBMITTED]
    assert (1, 1) == (len(submitted), len(submitted[0].scheduled_run_times))


def test_run_missed_by_more_than_the_grace_is_skipped(
    settings_for: Callable[..., Settings], runtime_for: Callable[[Settings], Any], slack: SlackServer
) -> None:
    """Down for longer than misfire_grace_seconds: the run is reported missed and nothing is posted."""
    settings = settings_for(grace=60)
    stored_due(settings, datetime.now(UTC) - timedelta(minutes=30))
    runtime_for(settings)
    scheduler = build_scheduler(settings, scheduler_class=BackgroundScheduler)
    events = Events(scheduler)
    scheduler.start(paused=True)
    sync_jobs(scheduler, settings.app.schedule)
    scheduler.resume()
    try:
        assert events.final.wait(timeout=30)
    finally:
        scheduler.shutdown()
    expected = sorted([EVENT_JOB_SUBMITTED, EVENT_JOB_MISSED])
    assert (expected, []) == (events.codes("weekly_digest"), slack.calls("chat.postMessage"))
