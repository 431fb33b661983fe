"""Which stored items make up a digest's week.

The window's items, plus arXiv papers submitted shortly before it that no earlier digest has shown:
arXiv announces a paper up to ~3 days after its submission (Fri 14:00 ET -> Mon 20:00 ET), so a paper
submitted on Friday evening would otherwise fall between two weekly digests and never be shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from digestbot.domain import Item, SourceName, Window
from digestbot.settings import Settings
from digestbot.store import ItemStore


def lag_window(settings: Settings, window: Window) -> Window:
    """The window widened by arXiv's announcement lag (what to fetch and look at)."""
    return Window(window.start - timedelta(days=settings.app.sources.arxiv.announcement_lag_days), window.end)


def late_announced(items: Sequence[Item], window: Window, already_shown: set[str]) -> list[Item]:
    """The window's items, plus arXiv papers submitted before it that no earlier digest has shown."""
    return [
        item
        for item in items
        if window.contains(item.published)
        or (item.source is SourceName.ARXIV and item.id not in already_shown)
    ]


def select_items(
    settings: Settings, store: ItemStore, window: Window, source_names: Sequence[SourceName] | None
) -> list[Item]:
    """The digest's items from the store; this period's own posted digest does not count as earlier."""
    from digestbot.delivery import period_key
    from digestbot.store.digests import posted_item_ids

    wanted = list(source_names) if source_names else None
    items = store.items_in_window(lag_window(settings, window), sources=wanted)
    shown = posted_item_ids(store.engine, other_than=period_key(window, settings.app.general.timezone))
    return late_announced(items, window, shown)
