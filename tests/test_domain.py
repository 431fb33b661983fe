"""Domain values: windows, labels, frozen items."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from digestbot.domain import Item, SourceName, Window

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def test_since_counts_back_from_now() -> None:
    """`7d` is the seven days before now."""
    window = Window.since("7d", now=NOW)
    assert (datetime(2026, 11, 15, 3, 0, tzinfo=UTC), NOW) == (window.start, window.end)


@pytest.mark.parametrize("spec", ["7", "d7", "7 days", "-3d", ""])
def test_since_rejects_unreadable_durations(spec: str) -> None:
    """A duration that is not N[h|d|w] is refused with an example."""
    with pytest.raises(ValueError, match=r"use e\.g\. 7d"):
        Window.since(spec, now=NOW)


def test_between_covers_whole_local_days() -> None:
    """`--from 11/16 --to 11/22` in Tokyo is 11/15 15:00 UTC up to 11/22 15:00 UTC."""
    window = Window.between(date(2026, 11, 16), date(2026, 11, 22), "Asia/Tokyo")
    assert (datetime(2026, 11, 15, 15, tzinfo=UTC), datetime(2026, 11, 22, 15, tzinfo=UTC)) == (
        window.start,
        window.end,
    )
    assert "11/16–11/22" == window.label("Asia/Tokyo")


def test_a_window_across_new_year_shows_both_years() -> None:
    """12/29–1/4 could be read backwards: across a new year the label carries the years."""
    window = Window.between(date(2025, 12, 29), date(2026, 1, 4), "Asia/Tokyo")
    assert "2025/12/29–2026/1/4" == window.label("Asia/Tokyo")


def test_window_must_be_ordered() -> None:
    """An empty or reversed window is an error."""
    with pytest.raises(ValueError, match="is not before"):
        Window(NOW, NOW)


def test_item_is_frozen_and_needs_aware_times() -> None:
    """Items cannot be changed and refuse naive datetimes."""
    item = Item(
        id="arxiv:1", source=SourceName.ARXIV, url="u", title="t", text="x", published=NOW, updated=NOW
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.title = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match="timezone-aware"):
        Item(
            id="a",
            source=SourceName.ARXIV,
            url="u",
            title="t",
            text="x",
            published=NOW.replace(tzinfo=None),
            updated=NOW,
        )
