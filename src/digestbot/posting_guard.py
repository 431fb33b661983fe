"""The guard every posting path goes through: one lease per (channel, period), and no future windows.

`posting_lease` is held around "decide, post, record" by `deliver` (so `digestbot post`, `/digest`
and reconciliation take it) and, for `digestbot run` and the worker's weekly job, around the whole
run from the "already posted?" check to the record (`run_digest`), so a second process for the same
period neither runs the agents nor posts: it waits up to `LEASE_WAIT` and then either finds the
digest posted (refused, exit 3) or gives up with `DeliveryBusy` naming the holder (exit 3).
The lease is the store's (`locks.hold_lock`: PostgreSQL advisory lock, SQLite lease row); a
process that already holds it (same thread) takes it again for free.

`check_not_future` refuses a period that has not happened: a window ending after the end of the
local day of `now` (plus `FUTURE_TOLERANCE`). `--to today` and `/digest` windows ending now pass.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from digestbot.domain import Window
from digestbot.locks import hold_lock, lock_holder

LEASE_WAIT = timedelta(seconds=30)  # how long a second process waits for the holder to finish
FUTURE_TOLERANCE = timedelta(minutes=5)  # clock skew between hosts

_held = threading.local()


class DeliveryRefused(Exception):
    """The digest for this channel and period was already posted and `force` was not given."""

    def __init__(self, message: str, *, permalink: str | None) -> None:
        super().__init__(message)
        self.permalink = permalink


class DeliveryBusy(DeliveryRefused):
    """Another process holds the posting lease for this channel and period (it is posting it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permalink=None)


class FuturePeriod(DeliveryRefused):
    """The period has not happened yet: posting it would claim a week before its items exist."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permalink=None)


def lease_name(channel: str, period: str) -> str:
    return f"post:{channel}:{period}"


@contextmanager
def posting_lease(
    engine: Engine, channel: str, period: str, *, wait: timedelta = LEASE_WAIT
) -> Iterator[None]:
    """Hold the (channel, period) posting lease, or raise `DeliveryBusy` after `wait`."""
    name = lease_name(channel, period)
    names: set[str] = _held.__dict__.setdefault("names", set())
    if name in names:  # re-entered by the same thread (run_digest -> deliver)
        yield
        return
    with hold_lock(engine, name, wait=wait) as held:
        if not held:
            holder = lock_holder(engine, name)
            who = f" ({holder.describe()})" if holder is not None else ""
            raise DeliveryBusy(
                f"another digestbot process{who} is making or posting the {period} digest for "
                f"{channel}; waited {wait.total_seconds():g} s: run again when it has finished "
                "(it will then say whether the digest was posted)"
            )
        names.add(name)
        try:
            yield
        finally:
            names.discard(name)


def future_cutoff(now: datetime, tz: str) -> datetime:
    """The end of `now`'s local day: no posted window may end after it (plus the tolerance)."""
    zone = ZoneInfo(tz)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time.min, zone) + FUTURE_TOLERANCE


def check_not_future(window: Window, now: datetime, tz: str) -> None:
    """Raise `FuturePeriod` when `window` ends after today (local): that week has not happened."""
    if window.end > future_cutoff(now, tz):
        zone = ZoneInfo(tz)
        first = window.start.astimezone(zone).date()
        last = (window.end - timedelta(seconds=1)).astimezone(zone).date()
        today = now.astimezone(zone).date()
        raise FuturePeriod(
            f"the period {first}..{last} ends after today ({today}, {tz}): a digest is posted only "
            "for days that have happened; pick --to today or earlier (or use --dry-run to preview)"
        )
