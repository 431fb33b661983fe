"""Archive search: past digest items matching every word, with links to the digests they were in.

`search(engine, "RAG 評価")` first indexes any posted digest not indexed yet (or changed by
`--force`), then asks the database (see `store/search.py`) and applies one rule everywhere: an
ASCII word matches at the start of a word (``agent`` finds "agents", not "reagent"; ``RAG`` not
"storage"), any other term (Japanese) matches anywhere. Newest digests first; an item posted in
several digests is one hit listing each of them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from digestbot.digest_json import digest_from_dict
from digestbot.store.search import candidates, index_rows, stale_posts

MAX_TERMS = 8


@dataclass(frozen=True)
class Appearance:
    period: str
    channel: str
    permalink: str | None


@dataclass(frozen=True)
class SearchHit:
    item_id: str
    title: str
    url: str
    blurb: str
    category_name: str
    source: str
    appearances: tuple[Appearance, ...]  # newest first


def terms_of(query: str) -> list[str]:
    """NFKC-folded, lower-cased words of the query (at most 8, no repeats)."""
    words = unicodedata.normalize("NFKC", query).lower().split()
    return list(dict.fromkeys(w for w in words if w))[:MAX_TERMS]


def sync_index(engine: Engine, *, now: datetime | None = None) -> int:
    """Index the posted digests that are new or changed; returns how many were (re)indexed."""
    moment = now or datetime.now(UTC)
    stale = stale_posts(engine)
    for post in stale:
        digest = digest_from_dict(post["digest"])
        rows: list[dict[str, Any]] = []
        for section in digest.sections:
            for entry in section.entries:
                item = entry.item
                linked = [
                    link.title for link in (*entry.explainers, *entry.papers)
                ]  # found through its links
                doc = " ".join([item.title, entry.blurb, *item.tags, section.name, *linked])
                rows.append(
                    {
                        "channel": post["channel"],
                        "period": post["period"],
                        "item_id": item.id,
                        "position": len(rows),
                        "title": item.title,
                        "url": item.url,
                        "blurb": entry.blurb,
                        "category": section.category,
                        "category_name": section.name,
                        "source": item.source.value,
                        "doc": unicodedata.normalize("NFKC", doc),
                        "permalink": post["permalink"],
                        "posted_at": post["posted_at"] or post["updated_at"],
                        "indexed_at": moment,
                    }
                )
        index_rows(engine, post["channel"], post["period"], rows)
    return len(stale)


def _matches(doc: str, terms: list[str]) -> bool:
    folded = doc.lower()
    for term in terms:
        if term.isascii():
            if not re.search(rf"(?<![a-z0-9]){re.escape(term)}", folded):
                return False
        elif term not in folded:
            return False
    return True


def search(engine: Engine, query: str, *, limit: int = 10) -> list[SearchHit]:
    """Items of posted digests matching every word of `query`, newest digest first."""
    terms = terms_of(query)
    if not terms:
        return []
    sync_index(engine)
    hits: dict[str, SearchHit] = {}
    for row in candidates(engine, terms, limit=limit * 20):
        if not _matches(row["doc"], terms):
            continue
        seen = Appearance(row["period"], row["channel"], row["permalink"])
        if row["item_id"] in hits:
            hit = hits[row["item_id"]]
            hits[row["item_id"]] = SearchHit(**{**vars(hit), "appearances": (*hit.appearances, seen)})
        elif len(hits) < limit:
            hits[row["item_id"]] = SearchHit(
                row["item_id"],
                row["title"],
                row["url"],
                row["blurb"],
                row["category_name"],
                row["source"],
                (seen,),
            )
    return list(hits.values())
