"""`Digest` <-> JSON, exactly round-tripping; the runner saves `<data_dir>/digests/latest.json` with it.

Schema (`"schema": "digestbot.digest/1"`; bump the number on any incompatible change):

    {"schema", "title", "window": {"start", "end"}, "generated_at", "offline", "notes": [...],
     "sources": {"arxiv": {"fetched", "kept", "failed", "cut_off"}, ...},  # cut_off only when > 0
     "sections": [{"category", "name", "emoji", "total", "entries": [ENTRY, ...]}, ...],
     "trends": TRENDS,                    # only when the digest has a trends section
     "left_out": [LEFT, ...],             # every item of the window not posted (optional, default [])
     "stats": {...}}                      # free-form run statistics (costs, timings); may be {}

    TRENDS = {"weeks_compared", "categories": [{"category", "name", "emoji", "count", "baseline"}, ...],
              "rising": [{"term", "count", "baseline"}, ...], "insight", "cited": [item id, ...]}

    ENTRY = {"id", "url", "title", "source", "category", "secondary": [...], "blurb",
             "scores": {"relevance", "significance", "faithfulness", "japanese"}, "rationale", "rank",
             "popularity": {"likes", "stocks", "bookmarks", "comments"},      # null = unknown
             "text", "published", "updated", "authors": [...], "language", "tags": [...],
             "version", "mentioned_arxiv_ids": [...], "announce_type",
             "reason",                   # the classifier's one-line reason (optional, default "")
             "explainers": [LINKED, ...], # a paper's 解説記事 (optional, default [])
             "papers": [LINKED, ...]}     # an article's 元論文 (optional, default [])

    LINKED = {"item_id", "source", "title", "url", "likes": int | null, "how": "arxiv_id" | "title",
              "digest_period", "digest_permalink"}   # the earlier digest that showed a paper ("" = none)
    "explained": [{"paper": LINKED, "article": LINKED}, ...]   # 「今週の解説記事」 (optional, default [])
    ENTRY also has "watch": [{"kind", "value"}, ...] (注目 entries: the [watch] entries they matched)
    and "watch_flag" (a watched item the judge would have dropped: why, or "").

    LEFT = {"id", "title", "url", "status": "dropped" | "capped" | "held_back",
            "stage": "prefilter" | "classifier" | "shortlist" | "summarizer" | "judge" | "cap",
            "reason", "category", "rank": int | null, "score": float | null}

`cut_off` (entries the source had but did not serve: arXiv past `max_results`), `left_out`,
`reason`, `explainers`, `papers` and `explained` extend version 1 compatibly: files without them
read as before (empty).
The 注目 section is the first of `sections`, with `"category": "watch"` (a reserved category id);
its entries keep their own `category` and carry `watch` (kind: "arxiv_id" | "author" | "user" |
"keyword", value: as configured); its `total` minus its entries = the watched items over
`[watch] max_items` (listed in `left_out` as capped, reason "watch cap: …"). `stats.watched` =
{"shown": [{"item_id", "matched": [label, ...], "flag"?}, ...], "over_cap"}.
`watch` and `watch_flag` extend version 1 compatibly too.
When the learned ranking (`taste.py`) took part, the digest has `"ranking": {"votes", "items",
"weight", "moved"}` and each ENTRY `"judge_rank"` (the judge's rank alone) and `"taste"` (the
learned chance 0..1 that the team likes it); `"rank"` is then the blend. Files without them are untuned.
In `stats`, the runner writes `incidents` (each item an agent's answer needed a repair, a retry
alone, a mapping to "other", or was held back for: {"agent", "item_id", "kind", "detail"}) and
`warnings` (a stage where more than 20 % of the items needed that).
Datetimes are ISO 8601 with offset. `post --last` and `preview` read the saved file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from digestbot.domain import (
    CategoryTrend,
    Digest,
    DigestEntry,
    DigestSection,
    ExplainedPaper,
    Item,
    LeftOut,
    LinkedItem,
    Popularity,
    RisingTerm,
    Scores,
    SourceCount,
    SourceName,
    TasteRanking,
    Trends,
    WatchMatch,
    Window,
)
from digestbot.settings import Settings

SCHEMA = "digestbot.digest/1"
LATEST = "latest.json"


class DigestFileError(Exception):
    """A saved digest is missing or unreadable; the message says what to run."""


def _entry(entry: DigestEntry) -> dict[str, Any]:
    item = entry.item
    pop = item.popularity
    return {
        "id": item.id,
        "url": item.url,
        "title": item.title,
        "source": item.source.value,
        "category": entry.category,
        "secondary": list(entry.secondary),
        "blurb": entry.blurb,
        "scores": {
            "relevance": entry.scores.relevance,
            "significance": entry.scores.significance,
            "faithfulness": entry.scores.faithfulness,
            "japanese": entry.scores.japanese,
        },
        "rationale": entry.rationale,
        "rank": entry.rank,
        "popularity": {
            "likes": pop.likes,
            "stocks": pop.stocks,
            "bookmarks": pop.bookmarks,
            "comments": pop.comments,
        },
        "text": item.text,
        "published": item.published.isoformat(),
        "updated": item.updated.isoformat(),
        "authors": list(item.authors),
        "language": item.language,
        "tags": list(item.tags),
        "version": item.version,
        "mentioned_arxiv_ids": list(item.mentioned_arxiv_ids),
        "announce_type": item.announce_type,
        "reason": entry.reason,
        "explainers": [linked_to_dict(a) for a in entry.explainers],
        "papers": [linked_to_dict(p) for p in entry.papers],
        "watch": [{"kind": m.kind, "value": m.value} for m in entry.watch],
        "watch_flag": entry.watch_flag,
        **({"judge_rank": entry.judge_rank, "taste": entry.taste} if entry.taste is not None else {}),
    }


def linked_to_dict(linked: LinkedItem) -> dict[str, Any]:
    return dataclasses.asdict(linked)


def linked_from_dict(data: Mapping[str, Any]) -> LinkedItem:
    return LinkedItem(**data)


def _left(left: LeftOut) -> dict[str, Any]:
    return {
        "id": left.item_id,
        "title": left.title,
        "url": left.url,
        "status": left.status,
        "stage": left.stage,
        "reason": left.reason,
        "category": left.category,
        "rank": left.rank,
        "score": left.score,
    }


def _from_left(data: Mapping[str, Any]) -> LeftOut:
    return LeftOut(
        item_id=data["id"],
        title=data["title"],
        url=data["url"],
        status=data["status"],
        stage=data["stage"],
        reason=data["reason"],
        category=data["category"],
        rank=data["rank"],
        score=data["score"],
    )


def trends_to_dict(trends: Trends) -> dict[str, Any]:
    return {
        "weeks_compared": trends.weeks_compared,
        "categories": [
            {"category": c.category, "name": c.name, "emoji": c.emoji, "count": c.count}
            | {"baseline": c.baseline}
            for c in trends.categories
        ],
        "rising": [{"term": t.term, "count": t.count, "baseline": t.baseline} for t in trends.rising],
        "insight": trends.insight,
        "cited": list(trends.cited),
    }


def trends_from_dict(data: Mapping[str, Any]) -> Trends:
    return Trends(
        weeks_compared=int(data["weeks_compared"]),
        categories=tuple(CategoryTrend(**c) for c in data["categories"]),
        rising=tuple(RisingTerm(**t) for t in data["rising"]),
        insight=data["insight"],
        cited=tuple(data["cited"]),
    )


def digest_to_dict(digest: Digest, *, stats: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-ready form of a digest (plus optional run statistics)."""
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "title": digest.title,
        "window": {"start": digest.window.start.isoformat(), "end": digest.window.end.isoformat()},
        "generated_at": digest.generated_at.isoformat(),
        "offline": digest.offline,
        "notes": list(digest.notes),
        "sources": {
            name: {
                "fetched": count.fetched,
                "kept": count.kept,
                "failed": count.failed,
                **({"cut_off": count.cut_off} if count.cut_off else {}),
            }
            for name, count in digest.sources.items()
        },
        "sections": [
            {
                "category": section.category,
                "name": section.name,
                "emoji": section.emoji,
                "total": section.total,
                "entries": [_entry(entry) for entry in section.entries],
            }
            for section in digest.sections
        ],
        "left_out": [_left(left) for left in digest.left_out],
        "explained": [
            {"paper": linked_to_dict(e.paper), "article": linked_to_dict(e.article)} for e in digest.explained
        ],
        "stats": dict(stats or {}),
    }
    if digest.trends is not None:
        data["trends"] = trends_to_dict(digest.trends)
    if digest.ranking is not None:
        data["ranking"] = dataclasses.asdict(digest.ranking)
    return data


def _item(data: Mapping[str, Any]) -> Item:
    return Item(
        id=data["id"],
        source=SourceName(data["source"]),
        url=data["url"],
        title=data["title"],
        text=data["text"],
        published=datetime.fromisoformat(data["published"]),
        updated=datetime.fromisoformat(data["updated"]),
        authors=tuple(data["authors"]),
        language=data["language"],
        tags=tuple(data["tags"]),
        popularity=Popularity(**data["popularity"]),
        version=data["version"],
        mentioned_arxiv_ids=tuple(data["mentioned_arxiv_ids"]),
        announce_type=data["announce_type"],
    )


def _from_entry(data: Mapping[str, Any]) -> DigestEntry:
    return DigestEntry(
        item=_item(data),
        category=data["category"],
        blurb=data["blurb"],
        scores=Scores(**data["scores"]),
        rationale=data["rationale"],
        secondary=tuple(data["secondary"]),
        rank=float(data["rank"]),
        reason=data.get("reason", ""),
        explainers=tuple(linked_from_dict(a) for a in data.get("explainers") or ()),
        papers=tuple(linked_from_dict(p) for p in data.get("papers") or ()),
        watch=tuple(WatchMatch(kind=m["kind"], value=m["value"]) for m in data.get("watch") or ()),
        watch_flag=data.get("watch_flag", ""),
        judge_rank=data.get("judge_rank"),
        taste=data.get("taste"),
    )


def digest_from_dict(data: Mapping[str, Any]) -> Digest:
    """Inverse of `digest_to_dict` (stats are ignored; read them from the dict)."""
    if data.get("schema") != SCHEMA:
        raise DigestFileError(f"unsupported digest schema {data.get('schema')!r} (expected {SCHEMA!r})")
    try:
        return Digest(
            window=Window(
                datetime.fromisoformat(data["window"]["start"]), datetime.fromisoformat(data["window"]["end"])
            ),
            title=data["title"],
            sections=tuple(
                DigestSection(
                    category=s["category"],
                    name=s["name"],
                    emoji=s["emoji"],
                    entries=tuple(_from_entry(e) for e in s["entries"]),
                    total=s["total"],
                )
                for s in data["sections"]
            ),
            sources={name: SourceCount(**count) for name, count in data["sources"].items()},
            offline=bool(data["offline"]),
            generated_at=datetime.fromisoformat(data["generated_at"]),
            notes=tuple(data["notes"]),
            trends=trends_from_dict(data["trends"]) if data.get("trends") is not None else None,
            left_out=tuple(_from_left(left) for left in data.get("left_out") or ()),
            explained=tuple(
                ExplainedPaper(linked_from_dict(e["paper"]), linked_from_dict(e["article"]))
                for e in data.get("explained") or ()
            ),
            ranking=TasteRanking(**data["ranking"]) if data.get("ranking") is not None else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DigestFileError(f"saved digest is malformed ({type(exc).__name__}: {exc})") from None


def digests_dir(settings: Settings) -> Path:
    return settings.data_dir / "digests"


def write_json(path: Path, data: Any) -> Path:
    """Write JSON atomically (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    Path(tmp).replace(path)
    return path


def save_latest(digest: Digest, settings: Settings, stats: Mapping[str, Any] | None = None) -> Path:
    """Save as `<data_dir>/digests/latest.json`; returns the path."""
    return write_json(digests_dir(settings) / LATEST, digest_to_dict(digest, stats=stats))


def read_digest(path: Path) -> tuple[Digest, dict[str, Any]]:
    """A saved digest and its stats."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DigestFileError(
            f"no saved digest at {path}: run `digestbot run` (or `digestbot run --dry-run`) first"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise DigestFileError(f"cannot read the saved digest {path}: {exc}") from None
    if not isinstance(data, dict):
        raise DigestFileError(f"{path} does not hold a digest")
    return digest_from_dict(data), dict(data.get("stats") or {})


def load_latest(settings: Settings) -> Digest:
    """The last digest the runner saved (raises DigestFileError saying what to run if none)."""
    return read_digest(digests_dir(settings) / LATEST)[0]
