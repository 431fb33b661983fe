"""The scheduled jobs, referenced textually by the job store (`digestbot.jobs:weekly_digest`).

Each job loads the configuration fresh through the worker's `ConfigHolder` (see `configure`) and
calls `run_digest` or `fetch_window`; none holds business logic of its own. A database lock keyed
by the job (and, for the digest, its period) keeps two workers from running it at once, and the
run ledger makes the weekly digest happen once per period even across crashes: a run a dead worker
left `running` is resumed by `resume_interrupted` when a worker starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from digestbot.config_reload import ConfigHolder, post_admin_message
from digestbot.delivery import DeliveryBusy, DeliveryRefused, FuturePeriod, period_key
from digestbot.domain import SourceName, Window
from digestbot.locks import find_run, finish_run, hold_lock, start_run, unfinished_runs
from digestbot.scheduler import cron_trigger
from digestbot.settings import Settings
from digestbot.store import digests as posts
from digestbot.store.schema import open_engine

log = logging.getLogger(__name__)

WEEKLY = "weekly_digest"
INGEST_LOOKBACK = timedelta(days=3)  # feeds hold a short window; 3 days also covers a weekend of arXiv
Outcome = Literal["posted", "done", "already_done", "busy", "stopped", "failed", "skipped"]


class StopRequested(Exception):
    """The worker is shutting down: the run stops at a safe point and resumes at the next start."""


@dataclass
class JobRuntime:
    """What the jobs of one worker share: the config holder, the clock, the shutdown flag."""

    config: ConfigHolder
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    stop: threading.Event = field(default_factory=threading.Event)
    notify_admin: Callable[[Settings, str], Any] = post_admin_message
    _active: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def active(self) -> int:
        """How many jobs are running right now."""
        with self._lock:
            return self._active

    @contextmanager
    def tracking(self) -> Iterator[None]:
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def check_stop(self, *_: object) -> None:
        """A safe point: raise `StopRequested` when the worker is shutting down."""
        if self.stop.is_set():
            raise StopRequested


_runtime: JobRuntime | None = None


def configure(runtime: JobRuntime | None) -> None:
    """Install the worker's runtime (`serve` does this before the scheduler starts); None resets."""
    global _runtime  # noqa: PLW0603 - job functions are found by reference, so their context is module state
    _runtime = runtime


def runtime() -> JobRuntime:
    """The installed runtime, or one that loads `config/` fresh when a job runs outside `serve`."""
    if _runtime is None:
        configure(JobRuntime(ConfigHolder()))
    assert _runtime is not None
    return _runtime


# --- the weekly digest ---------------------------------------------------------------------------


def scheduled_time(trigger: CronTrigger, now: datetime, grace: timedelta) -> datetime:
    """The fire time this run belongs to: the latest one in (`now - grace`, `now`], else `now`."""
    latest = None
    fire: datetime | None = trigger.get_next_fire_time(None, now - grace)
    for _ in range(100_000):  # bounded: a per-second trigger within a one-hour grace is 3,600 fires
        if fire is None or fire > now:
            break
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest or now


def weekly_window(settings: Settings, now: datetime) -> Window:
    """The whole local days before the scheduled day: Monday's run covers Monday..Sunday before it.

    Computed from the fire time, not the clock, so a run caught up late has the same period.
    """
    schedule = settings.app.schedule
    trigger = cron_trigger(schedule.weekly_digest, schedule.timezone)
    fire = scheduled_time(trigger, now, timedelta(seconds=schedule.misfire_grace_seconds))
    tz = settings.app.general.timezone
    day = fire.astimezone(ZoneInfo(tz)).date()
    days = settings.app.general.default_window_days
    return Window.between(day - timedelta(days=days), day - timedelta(days=1), tz)


def weekly_key(settings: Settings, window: Window) -> str:
    return f"{WEEKLY}:{settings.app.slack.channel}:{period_key(window, settings.app.general.timezone)}"


def weekly_digest() -> Outcome:
    """Job: make and post this week's digest, once per channel and period."""
    rt = runtime()
    settings = rt.config.current()
    return run_weekly(settings, weekly_window(settings, rt.now()), rt)


def run_weekly(settings: Settings, window: Window, rt: JobRuntime) -> Outcome:
    """Run the weekly digest for `window` under its lock and ledger row (also used to resume)."""
    from digestbot.runner import run_digest

    key = weekly_key(settings, window)
    period = period_key(window, settings.app.general.timezone)
    engine = open_engine(settings.store_url)
    try:
        with rt.tracking(), hold_lock(engine, key) as held:
            if not held:
                log.info("%s: another worker is running it", key)
                return "busy"
            run = find_run(engine, key)
            post = posts.find_post(engine, settings.app.slack.channel, period)
            if (run is not None and run.status == "done") or (post is not None and post.status == "posted"):
                if run is not None and run.status != "done":
                    finish_run(engine, key)  # e.g. posted by `digestbot run`, or adopted after a crash
                log.info("%s: already posted", key)
                return "already_done"
            args = {"start": window.start.isoformat(), "end": window.end.isoformat()}
            start_run(engine, key, job=WEEKLY, args=args)
            resumed = run is not None and run.status == "running"  # its worker died: this lock was free
            log.info(
                "%s: %s", key, "resuming a run a stopped worker left unfinished" if resumed else "started"
            )
            try:
                outcome = run_digest(
                    settings,
                    window,
                    fetch=True,
                    dry_run=False,
                    on_fetch_progress=rt.check_stop,
                    on_items=rt.check_stop,
                )
            except StopRequested:
                log.warning(
                    "%s: stopped for shutdown before the agents ran; it resumes at the next start", key
                )
                return "stopped"
            except DeliveryRefused as exc:
                return _refused(settings, engine, exc, rt, key=key, period=period)
            except Exception as exc:
                finish_run(engine, key, error=str(exc) or type(exc).__name__)
                log.exception("%s failed", key)
                rt.notify_admin(
                    settings, f"⚠️ 週次ダイジェスト（{period}）の作成・投稿に失敗しました: `{exc}`"
                )
                return "failed"
            finish_run(engine, key)
            log.info("%s: %s", key, outcome.delivery.action if outcome.delivery else "done")
            return "posted"
    finally:
        engine.dispose()


def _refused(
    settings: Settings, engine: Engine, exc: DeliveryRefused, rt: JobRuntime, *, key: str, period: str
) -> Outcome:
    """Close the ledger row for a refused delivery: posted already, busy elsewhere, or a future week."""
    if isinstance(exc, DeliveryBusy):  # another process holds this period's posting lease
        finish_run(engine, key, error=str(exc))
        log.warning("%s: %s", key, exc)
        return "busy"
    if isinstance(exc, FuturePeriod):  # e.g. this host's clock jumped ahead: post nothing, say so
        finish_run(engine, key, error=str(exc))
        log.error("%s: %s", key, exc)
        rt.notify_admin(settings, f"⚠️ 週次ダイジェスト（{period}）を投稿しませんでした: `{exc}`")
        return "failed"
    finish_run(engine, key)
    return "already_done"


def resume_interrupted() -> list[Outcome]:
    """Job (once at start): finish the weekly runs a dead worker left `running`."""
    rt = runtime()
    settings = rt.config.current()
    engine = open_engine(settings.store_url)
    try:
        runs = unfinished_runs(engine, WEEKLY)
    finally:
        engine.dispose()
    results: list[Outcome] = []
    for run in runs:
        window = Window(datetime.fromisoformat(run.args["start"]), datetime.fromisoformat(run.args["end"]))
        if weekly_key(settings, window) != run.key:
            log.warning("%s: not resumed, the Slack channel changed since it started", run.key)
            continue
        results.append(run_weekly(settings, window, rt))
    return results


# --- ingestion -----------------------------------------------------------------------------------


def ingest_arxiv() -> Outcome:
    """Job: fetch arXiv (after the daily announcement)."""
    return run_ingest("ingest_arxiv", [SourceName.ARXIV])


def ingest_feeds() -> Outcome:
    """Job: fetch Qiita and Zenn (every few hours: their feeds hold only the latest entries)."""
    return run_ingest("ingest_feeds", [SourceName.QIITA, SourceName.ZENN])


def run_ingest(job: str, names: Sequence[SourceName]) -> Outcome:
    """Fetch the enabled ones of `names` for the last few days into the store, under the job's lock."""
    from digestbot.ingest import fetch_window
    from digestbot.sources import enabled_source_names
    from digestbot.store import ItemStore

    rt = runtime()
    settings = rt.config.current()
    wanted = [name for name in names if name in enabled_source_names(settings)]
    if not wanted:
        return "skipped"
    now = rt.now()
    with rt.tracking(), ItemStore(settings.store_url) as store, hold_lock(store.engine, job) as held:
        if not held:
            log.info("%s: another worker is running it", job)
            return "busy"
        report = fetch_window(settings, store, Window(now - INGEST_LOOKBACK, now), names=wanted)
    for row in report.rows:
        state = f"failed: {row.failure}" if row.failed else "ok"
        log.info("%s: %s fetched %d, new %d (%s)", job, row.source.value, row.fetched, row.new, state)
    return "failed" if report.failed else "done"
