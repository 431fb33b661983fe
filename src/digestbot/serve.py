"""`digestbot serve`: the worker. One asyncio loop runs the scheduler and Slack Socket Mode.

Start-up: load the configuration, finish deliveries a crashed run left half-done
(`reconcile_pending`), start the scheduler paused, bring its stored jobs in line with `[schedule]`,
resume weekly runs a dead worker left unfinished, then connect to Slack in Socket Mode (without
blocking the schedule if Slack is unreachable).

SIGTERM/SIGINT: stop taking commands, stop the scheduler, and give running work `grace_seconds` to
finish. A weekly run still in its fetch stops at the next batch (a safe point); one already in the
agents is left: its per-item results are cached, its ledger row stays `running`, and the next
start resumes it, so nothing is lost or posted twice.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.base import BaseScheduler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from sqlalchemy.exc import SQLAlchemyError

from digestbot import jobs
from digestbot.config_reload import ConfigHolder
from digestbot.delivery import DeliveryRefused, reconcile_pending
from digestbot.scheduler import MEMORY, PERSISTENT, build_scheduler, sync_jobs
from digestbot.settings import ConfigError, Settings, redact_url
from digestbot.slack.app import app_from_settings
from digestbot.slack.errors import SlackDeliveryError
from digestbot.slack.services import BotServices
from digestbot.store import StoreError
from digestbot.store.schema import error_line

log = logging.getLogger(__name__)


class ServeError(Exception):
    """The worker cannot start; the message says what to set or fix."""


@dataclass(frozen=True)
class ServeResult:
    abandoned: int  # runs still going when the grace ran out (safe: they resume at the next start)


def _reconcile(settings: Settings) -> None:
    try:
        for result in reconcile_pending(settings, settings.store_url):
            log.info(
                "finished an interrupted delivery: %s %s (%s)", result.channel, result.period, result.action
            )
    except (SlackDeliveryError, DeliveryRefused) as exc:
        log.warning("could not finish an interrupted delivery yet: %s", exc)


def _resync(scheduler: BaseScheduler, holder: ConfigHolder) -> None:
    """Housekeeping job: apply `[schedule]` edits without a restart."""
    for change in sync_jobs(scheduler, holder.current().app.schedule):
        log.info("schedule: %s", change)


def _log_missed(event: JobExecutionEvent) -> None:
    log.warning(
        "job %s missed its run at %s (the worker was down longer than the misfire grace)",
        event.job_id,
        event.scheduled_run_time,
    )


def start_scheduler(settings: Settings, holder: ConfigHolder, *, resync_seconds: float) -> BaseScheduler:
    scheduler = build_scheduler(settings, event_loop=asyncio.get_running_loop())
    scheduler.add_listener(_log_missed, EVENT_JOB_MISSED)
    scheduler.start(paused=True)
    for change in sync_jobs(scheduler, settings.app.schedule):
        log.info("schedule: %s", change)
    scheduler.add_job(jobs.resume_interrupted, id="resume_interrupted", jobstore=MEMORY)
    scheduler.add_job(
        _resync, "interval", seconds=resync_seconds, args=[scheduler, holder], id="resync", jobstore=MEMORY
    )
    scheduler.resume()
    weekly = scheduler.get_job("weekly_digest", jobstore=PERSISTENT)
    log.info("scheduler started; next weekly digest at %s", weekly.next_run_time if weekly else "?")
    return scheduler


@dataclass
class SlackConnection:
    handler: AsyncSocketModeHandler
    connecting: asyncio.Task[None]  # retries until Slack answers; never blocks the schedule

    async def close(self) -> None:
        self.connecting.cancel()
        await self.handler.close_async()  # type: ignore[no-untyped-call]


def connect_slack(settings: Settings, services: BotServices) -> SlackConnection | None:
    """Start connecting to Slack in Socket Mode; None when SLACK_APP_TOKEN is unset."""
    app_token = settings.secrets.slack_app_token
    if app_token is None:
        log.warning("SLACK_APP_TOKEN is not set: /digest is off; the schedule still runs")
        return None
    app = app_from_settings(settings, services)
    handler = AsyncSocketModeHandler(app, app_token.get_secret_value(), web_client=app.client)

    async def connect() -> None:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("connected to Slack (Socket Mode): /digest is on")

    return SlackConnection(handler, asyncio.create_task(connect()))


async def _drain(runtime: jobs.JobRuntime, services: BotServices, grace_seconds: float) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_seconds
    while (runtime.active or services.tasks.pending) and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)  # job threads signal no event; this polls only during shutdown
    return runtime.active + services.tasks.pending


async def _check_tokens(settings: Settings) -> None:
    """auth.test and apps.connections.open once: a refused token stops the start (ConfigError, exit 2);
    Slack being unreachable does not (the worker starts and Socket Mode keeps retrying)."""
    from digestbot.config_online import check_app_token, check_bot_token

    for checked in await asyncio.gather(
        asyncio.to_thread(check_bot_token, settings), asyncio.to_thread(check_app_token, settings)
    ):
        if checked.finding is not None and checked.finding.level == "error":
            raise ConfigError(checked.finding.text)
        if checked.finding is not None:
            log.warning("%s", checked.finding.text)
        elif checked.ok:
            log.info("%s", checked.ok)


async def serve(
    holder: ConfigHolder,
    stop: asyncio.Event,
    *,
    grace_seconds: float = 25.0,
    resync_seconds: float = 60.0,
    on_ready: Callable[[], Any] | None = None,
) -> ServeResult:
    """Run until `stop` is set, then shut down gracefully (see the module docstring)."""
    settings = holder.current()
    if settings.secrets.slack_bot_token is None:
        raise ServeError("SLACK_BOT_TOKEN is not set: put the bot token (xoxb-…) in the environment or .env")
    await _check_tokens(settings)
    runtime = jobs.JobRuntime(holder)
    jobs.configure(runtime)
    services = BotServices(holder)
    try:
        await asyncio.to_thread(_reconcile, settings)
        await services.blocking(services.engine, settings.store_url)  # opened now, so /digest acks fast
        scheduler = start_scheduler(settings, holder, resync_seconds=resync_seconds)
    except (StoreError, SQLAlchemyError) as exc:
        services.close()
        detail = str(exc) if isinstance(exc, StoreError) else error_line(exc)
        raise ServeError(f"cannot open the store ({redact_url(settings.store_url)}): {detail}") from None
    slack = connect_slack(settings, services)
    log.info("digestbot serve is ready")
    if on_ready is not None:
        on_ready()
    await stop.wait()

    log.info("stopping: no new commands or jobs; letting running work finish (up to %.0f s)", grace_seconds)
    runtime.stop.set()
    if slack is not None:
        await slack.close()
    scheduler.shutdown(wait=False)
    abandoned = await _drain(runtime, services, grace_seconds)
    services.close()
    if abandoned:
        log.warning(
            "%d run(s) still going at exit: a weekly digest resumes at the next start, "
            "a /digest can be asked again",
            abandoned,
        )
    log.info("stopped")
    return ServeResult(abandoned)


async def run_until_signalled(holder: ConfigHolder, *, grace_seconds: float = 25.0) -> ServeResult:
    """`serve` with SIGTERM and SIGINT setting the stop event (what `digestbot serve` runs)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await serve(holder, stop, grace_seconds=grace_seconds)
