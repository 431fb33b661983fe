"""Builds the APScheduler (3.x) and keeps its jobs in step with `[schedule]`. Nothing else.

Triggers are cron expressions with day NAMES (APScheduler 3 counts Monday as 0, unlike crontab, so
digits are refused). Jobs live in a SQLAlchemy job store in the same database as the items, so a
weekly run missed during a restart runs once when a worker returns (coalesced, within the misfire
grace time). The job functions are referenced textually (`digestbot.jobs:weekly_digest`) and live
in `jobs.py`; they call the same `run_digest` the CLI calls.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from digestbot.cron import JOBS, check_schedule, check_settings_schedule, cron_trigger
from digestbot.settings import ScheduleConfig, Settings
from digestbot.store.schema import create_store_engine, write_transaction

PERSISTENT = "default"  # the job store in the database
MEMORY = "memory"  # the worker's own housekeeping jobs, never persisted
JOBSTORE_TABLE = "apscheduler_jobs"
__all__ = [
    "JOBS",
    "build_scheduler",
    "check_schedule",
    "check_settings_schedule",
    "cron_trigger",
    "sync_jobs",
]


def build_scheduler(
    settings: Settings, *, scheduler_class: type[BaseScheduler] = AsyncIOScheduler, **options: Any
) -> BaseScheduler:
    """A stopped scheduler: jobs in the store's database, coalesce, one instance, misfire grace.

    Start it paused, call `sync_jobs`, then resume: jobs are added against the stored ones.
    """
    schedule = settings.app.schedule
    engine = create_store_engine(settings.store_url)
    store = SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)
    with write_transaction(engine) as conn:  # two workers starting at once must not both CREATE it
        store.jobs_t.create(conn, checkfirst=True)
    return scheduler_class(
        jobstores={PERSISTENT: store, MEMORY: MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=2)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": schedule.misfire_grace_seconds,
        },
        timezone=schedule.timezone,
        **options,
    )


def _unchanged(job: Job, ref: str, trigger: CronTrigger, grace: int) -> bool:
    return (
        job.func_ref == ref
        and str(job.trigger) == str(trigger)
        and str(job.trigger.timezone) == str(trigger.timezone)
        and job.misfire_grace_time == grace
    )


def sync_jobs(
    scheduler: BaseScheduler, schedule: ScheduleConfig, *, now: datetime | None = None
) -> list[str]:
    """Make the stored jobs match `schedule`; returns what changed (empty when nothing did).

    A stored job with the same trigger is left alone, so its `next_run_time` survives a restart. A
    changed one is replaced; if its stored run was already due, that run is kept so it still happens.
    """
    moment = now or datetime.now(UTC)
    grace = schedule.misfire_grace_seconds
    changes: list[str] = []
    for job_id, ref in JOBS.items():
        trigger = cron_trigger(getattr(schedule, job_id), schedule.timezone)
        existing = scheduler.get_job(job_id, jobstore=PERSISTENT)
        if existing is not None and _unchanged(existing, ref, trigger, grace):
            continue
        keep: dict[str, Any] = {}
        due = existing.next_run_time if existing is not None else None
        if due is not None and due <= moment:
            keep["next_run_time"] = due
        scheduler.add_job(
            ref,
            trigger,
            id=job_id,
            name=job_id,
            jobstore=PERSISTENT,
            replace_existing=True,
            misfire_grace_time=grace,
            **keep,
        )
        changes.append(f"{'updated' if existing else 'added'} {job_id}: {trigger}")
    for job in scheduler.get_jobs(jobstore=PERSISTENT):
        if job.id not in JOBS:
            scheduler.remove_job(job.id, jobstore=PERSISTENT)
            changes.append(f"removed {job.id}")
    return changes
