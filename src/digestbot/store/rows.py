"""Item <-> row conversion, deduplication keys, and the rule for merging a re-seen item."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import RowMapping

from digestbot.domain import Item, Popularity, SourceName
from digestbot.sources.text import merge_tags, normalize_title

MIN_TITLE_KEY = 8  # shorter normalized titles ("RAG入門") are too generic to call two items the same
PAPER_SOURCES = frozenset({SourceName.ARXIV.value})  # the others publish articles (about papers, too)

_ARXIV_VERSIONED = re.compile(r"^(arxiv:.+?)v(\d+)$")
_ARXIV_URL_VERSION = re.compile(r"^(/(?:abs|pdf)/.+?)v\d+$")
_POPULARITY = tuple(f.name for f in dataclasses.fields(Popularity))

# An upsert needs each item's keys several times (batch lookup, duplicate check, the row itself).
_normalized_title = lru_cache(maxsize=65_536)(normalize_title)


def title_key(title: str) -> str | None:
    """The normalized title when it is specific enough to match across sources, else None."""
    key = _normalized_title(title)
    return key if len(key) >= MIN_TITLE_KEY else None


def same_kind(source: str, other: str) -> bool:
    """Both sources publish papers, or both articles: only then can one title mean one item."""
    return (source in PAPER_SOURCES) == (other in PAPER_SOURCES)


@lru_cache(maxsize=65_536)
def url_key(url: str) -> str:
    """A URL for equality checks: https, lowercase host without www, no fragment/utm, no arXiv version."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port not in (None, 80, 443):
        host = f"{host}:{parts.port}"
    path = parts.path.rstrip("/") or "/"
    if host.endswith("arxiv.org"):
        path = _ARXIV_URL_VERSION.sub(r"\1", path)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if not k.startswith("utm_")])
    return urlunsplit(("https", host, path, query, ""))


def canonical(item: Item) -> Item:
    """arXiv ids carry no version: `arxiv:2401.10491v2` becomes `arxiv:2401.10491` with version 2."""
    match = _ARXIV_VERSIONED.match(item.id) if item.source is SourceName.ARXIV else None
    if match is None:
        return item
    version = item.version if item.version is not None else int(match.group(2))
    return dataclasses.replace(item, id=match.group(1), version=version)


def compare(incoming: Item, stored: Item) -> int:
    """>0 if `incoming` is newer data than `stored`, <0 if older, 0 if the same revision."""
    if incoming.version is not None and stored.version is not None and incoming.version != stored.version:
        return 1 if incoming.version > stored.version else -1
    if incoming.updated != stored.updated:
        return 1 if incoming.updated > stored.updated else -1
    return 0


def merge(stored: Item, incoming: Item) -> Item:
    """The stored item after seeing `incoming` again.

    The newer revision's metadata wins (an older arXiv version never overwrites a newer one; on a
    tie the incoming data wins, since it was fetched later). Popularity takes the newer side's known
    counts and keeps the other side's where the newer one does not know them. Tags are merged.
    A side that carries no text (e.g. a Zenn article seen only in the JSON listing, which has no
    body) never erases the text the other side has.
    """
    newer, older = (stored, incoming) if compare(incoming, stored) < 0 else (incoming, stored)
    popularity = Popularity(
        **{
            f.name: getattr(newer.popularity, f.name)
            if getattr(newer.popularity, f.name) is not None
            else getattr(older.popularity, f.name)
            for f in dataclasses.fields(Popularity)
        }
    )
    return dataclasses.replace(
        newer,
        text=newer.text or older.text,
        popularity=popularity,
        tags=merge_tags(newer.tags, older.tags),
        mentioned_arxiv_ids=_union(newer.mentioned_arxiv_ids, older.mentioned_arxiv_ids),
        announce_type=newer.announce_type or older.announce_type,
    )


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return first + tuple(value for value in dict.fromkeys(second) if value not in first)


def _offset(moment: datetime) -> int:
    offset = moment.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _restore(utc: datetime, offset_seconds: int) -> datetime:
    return utc.astimezone(timezone(timedelta(seconds=offset_seconds)) if offset_seconds else UTC)


def item_to_row(item: Item, *, first_seen: datetime, last_seen: datetime) -> dict[str, Any]:
    """The `items` row for an (already canonical) item."""
    return {
        "id": item.id,
        "source": item.source.value,
        "url": item.url,
        "url_key": url_key(item.url),
        "title": item.title,
        "norm_title": _normalized_title(item.title),
        "published": item.published,
        "updated": item.updated,
        "version": item.version,
        "language": item.language,
        "first_seen": first_seen,
        "last_seen": last_seen,
        "data": {
            "text": item.text,
            "authors": list(item.authors),
            "tags": list(item.tags),
            "popularity": {name: getattr(item.popularity, name) for name in _POPULARITY},
            "mentioned_arxiv_ids": list(item.mentioned_arxiv_ids),
            "announce_type": item.announce_type,
            "offsets": {"published": _offset(item.published), "updated": _offset(item.updated)},
        },
    }


def row_to_item(row: RowMapping) -> Item:
    """The `Item` a row holds, with the original UTC offsets of its timestamps."""
    data = row["data"]
    offsets = data.get("offsets", {})
    return Item(
        id=row["id"],
        source=SourceName(row["source"]),
        url=row["url"],
        title=row["title"],
        text=data["text"],
        published=_restore(row["published"], offsets.get("published", 0)),
        updated=_restore(row["updated"], offsets.get("updated", 0)),
        authors=tuple(data["authors"]),
        language=row["language"],
        tags=tuple(data["tags"]),
        popularity=Popularity(**data["popularity"]),
        version=row["version"],
        mentioned_arxiv_ids=tuple(data["mentioned_arxiv_ids"]),
        announce_type=data["announce_type"],
    )
