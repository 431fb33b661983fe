"""Steps shared by the feed-based sources (Qiita tag feeds, Zenn topic feeds)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from digestbot.domain import Item, Window
from digestbot.sources.base import FetchLog, SourceError
from digestbot.sources.http import HttpFetcher, ParsedFeed, describe_url
from digestbot.sources.text import merge_tags

Entry = Mapping[str, Any]


def add_merging_tags(items: dict[str, Item], item: Item) -> None:
    """The same article seen under another tag/topic: one item carrying both tags."""
    old = items.get(item.id)
    items[item.id] = dataclasses.replace(old, tags=merge_tags(old.tags, item.tags)) if old else item


def gather(
    names: Iterable[str], fetch_one: Callable[[str], list[Item]], items: dict[str, Item], log: FetchLog
) -> list[str]:
    """Fetch every feed into `items`; one feed failing is logged, not fatal. Returns the failures."""
    failures: list[str] = []
    for name in names:
        try:
            for item in fetch_one(name):
                add_merging_tags(items, item)
        except SourceError as exc:
            log.error(str(exc))
            failures.append(str(exc))
    return failures


def read_feed(http: HttpFetcher, url: str, log: FetchLog) -> ParsedFeed | None:
    """One conditional GET + parse; None when not modified. A malformed-but-usable feed warns."""
    log.requests += 1
    parsed = http.parse_feed(url)
    if parsed is not None and parsed.warning:
        log.warn(parsed.warning)
    return parsed


def items_in_window(
    parsed: ParsedFeed, window: Window, log: FetchLog, to_item: Callable[[Entry], Item | None]
) -> list[Item]:
    """The feed's entries as items published inside the window; unusable entries are counted and said."""
    items, skipped = [], 0
    for entry in parsed.entries:
        item = to_item(entry)
        if item is None:
            skipped += 1
        elif window.contains(item.published):
            items.append(item)
    if skipped:
        log.warn(f"{describe_url(parsed.url)}: skipped {skipped} entries without a link or date")
    return items
