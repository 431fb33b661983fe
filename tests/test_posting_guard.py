"""The posting lease per (channel, period) across processes, and the rule for future periods."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from digestbot.domain import Window
from digestbot.posting_guard import (
    DeliveryBusy,
    FuturePeriod,
    check_not_future,
    lease_name,
    posting_lease,
)
from digestbot.store.schema import open_engine

HALF = timedelta(seconds=0.5)
HOLD = """
import sys, time
from digestbot.locks import hold_lock
from digestbot.store.schema import open_engine
with hold_lock(open_engine(sys.argv[1]), sys.argv[2]) as held:
    print("held" if held else "busy", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """SQLite (lease row) and PostgreSQL (advisory lock + holder row)."""
    store = open_engine(store_url)
    yield store
    store.dispose()


def test_a_second_process_waits_then_is_told_who_holds_the_period(engine: Engine, store_url: str) -> None:
    """While another process holds the lease, `posting_lease` waits `wait` and raises DeliveryBusy
    naming the period, the channel and the holder's pid; once it is released the lease is taken."""
    url = store_url
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD, url, lease_name("#llm-digest", "2026-11-16..2026-11-22")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        period = "2026-11-16..2026-11-22"
        with pytest.raises(DeliveryBusy) as busy, posting_lease(engine, "#llm-digest", period, wait=HALF):
            pass
    finally:
        assert other.stdin is not None
        other.stdin.write("\n")
        other.stdin.flush()
        other.wait(timeout=30)
    taken = []
    with (
        posting_lease(engine, "#llm-digest", period, wait=timedelta(seconds=5)),
        posting_lease(engine, "#llm-digest", period, wait=timedelta(0)),  # re-entered by the same thread
    ):
        taken.append(True)
    message = str(busy.value)
    assert (True, True, True, [True]) == (
        "2026-11-16..2026-11-22" in message,
        "#llm-digest" in message,
        f"pid {other.pid} " in message,
        taken,
    )


@pytest.mark.parametrize(
    ("last_day", "refused"),
    [(date(2026, 11, 22), False), (date(2026, 11, 23), False), (date(2026, 11, 24), True)],
    ids=["yesterday", "today", "tomorrow"],
)
def test_a_window_ending_after_today_is_a_future_period(last_day: date, refused: bool) -> None:
    """`--to today` passes; a window whose last day is tomorrow (local time) is refused."""
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 10:00 JST on 11/23
    window = Window.between(last_day - timedelta(days=6), last_day, "Asia/Tokyo")
    try:
        check_not_future(window, now, "Asia/Tokyo")
        outcome = False
    except FuturePeriod:
        outcome = True
    assert refused == outcome
