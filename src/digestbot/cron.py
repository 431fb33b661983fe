"""The `[schedule]` entries as cron triggers, and their check (light: `config check` imports it)."""

from __future__ import annotations

import re

from apscheduler.triggers.cron import CronTrigger

from digestbot.settings import ConfigError, CronConfig, ScheduleConfig, Settings

JOBS: dict[str, str] = {  # job id (= the [schedule] key) -> function reference
    "weekly_digest": "digestbot.jobs:weekly_digest",
    "ingest_arxiv": "digestbot.jobs:ingest_arxiv",
    "ingest_feeds": "digestbot.jobs:ingest_feeds",
}
_WEEKDAY_DIGITS = re.compile(r"^\d+(-\d+)?$")


def cron_trigger(cron: CronConfig, timezone: str) -> CronTrigger:
    """The trigger for one `[schedule]` entry, in the schedule's timezone."""
    return CronTrigger(
        day_of_week=cron.day_of_week,
        hour=cron.hour,
        minute=cron.minute,
        second=cron.second,
        timezone=timezone,
    )


def check_schedule(schedule: ScheduleConfig) -> None:
    """Raise `ConfigError` naming the key when an entry is not a usable cron expression."""
    for job_id in JOBS:
        cron: CronConfig = getattr(schedule, job_id)
        parts = [part.strip() for part in cron.day_of_week.split(",")]
        if any(_WEEKDAY_DIGITS.match(part) for part in parts):
            raise ConfigError(
                f"schedule.{job_id}.day_of_week: {cron.day_of_week!r} uses weekday numbers; write day names "
                "(mon, tue, … or mon-fri): APScheduler counts Monday as 0, unlike crontab"
            )
        try:
            cron_trigger(cron, schedule.timezone)
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"schedule.{job_id}: not a usable schedule: {exc}") from None


def check_settings_schedule(settings: Settings) -> None:
    """`check_schedule`, its one-line error naming the config file (for `config check` and the worker)."""
    try:
        check_schedule(settings.app.schedule)
    except ConfigError as exc:
        raise ConfigError(f"{settings.config_dir / 'digestbot.toml'}: {exc}") from None
