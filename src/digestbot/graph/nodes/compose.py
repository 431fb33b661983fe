"""Compose the digest: 注目 first (`watch_pipeline.py`), then categories in config order, best items
first, per-category and total caps."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from langgraph.runtime import Runtime

from digestbot.domain import (
    Digest,
    DigestEntry,
    DigestSection,
    ExplainedPaper,
    Item,
    LeftOut,
    Scores,
    SourceCount,
    WatchMatch,
    Window,
)
from digestbot.graph.context import RunContext
from digestbot.graph.state import ItemResult, RunState
from digestbot.links import apply_links
from digestbot.settings import Category
from digestbot.taste import retuned
from digestbot.watch_pipeline import split_watched, watch_section


def rank(scores: Scores, item: Item, confidence: float) -> float:
    """Judge's relevance and significance first; the rest (faithfulness, language, popularity) break ties."""
    popularity = math.log1p(item.popularity.score()) / 10
    return (
        0.4 * scores.relevance
        + 0.4 * scores.significance
        + 0.05 * scores.faithfulness
        + 0.05 * scores.japanese
        + 0.1 * confidence
        + popularity
    )


def _scores(verdict: Mapping[str, object]) -> Scores:
    return Scores(
        relevance=int(verdict.get("relevance", 1)),  # type: ignore[call-overload]
        significance=int(verdict.get("significance", 1)),  # type: ignore[call-overload]
        faithfulness=int(verdict.get("faithfulness", 1)),  # type: ignore[call-overload]
        japanese=int(verdict.get("japanese", 1)),  # type: ignore[call-overload]
    )


def _entry(result: ItemResult, item: Item) -> DigestEntry:
    scores = _scores(verdict := result.get("verdict", {}))
    return DigestEntry(
        item=item,
        category=result.get("category", ""),
        blurb=result.get("blurb", ""),
        scores=scores,
        rationale=str(verdict.get("rationale", "")),
        secondary=tuple(result.get("secondary", [])),
        rank=round(rank(scores, item, result.get("confidence", 0.5)), 4),
        reason=result.get("reason", ""),
        watch_flag=result.get("watch_flag", ""),
    )


STATUS = {"dropped": "dropped", "failed": "held_back"}


def _left_result(result: ItemResult, item: Item) -> LeftOut:
    """A dropped or held-back item; scored by the judge's rank if judged, else the classifier's relevance."""
    score: float | None = None
    if "verdict" in result:
        score = round(rank(_scores(result["verdict"]), item, result.get("confidence", 0.5)), 4)
    elif "relevance" in result:
        score = float(result["relevance"])
    stage = result.get("stage") or "judge"
    return LeftOut(
        item_id=item.id,
        title=item.title,
        url=item.url,
        status=STATUS.get(result.get("status", ""), "dropped"),
        stage=stage,
        reason=result.get("detail", "").removeprefix(f"{stage}: ") or stage,
        category=result.get("category", ""),
        score=score,
    )


def capped_out(
    kept: Sequence[DigestEntry],
    sections: Sequence[DigestSection],
    categories: Sequence[Category],
    total_cap: int,
) -> list[LeftOut]:
    """Kept entries the caps left out of the post, with their category and place in it."""
    shown = {e.item.id for section in sections for e in section.entries}
    caps = {c.id: c.cap for c in categories}
    by_category: dict[str, list[DigestEntry]] = {c.id: [] for c in categories}  # config order
    for entry in kept:
        by_category.setdefault(entry.category, []).append(entry)
    out = []
    for category, entries in by_category.items():
        entries.sort(key=lambda e: (-e.rank, e.item.id))
        for place, entry in enumerate(entries, 1):
            if entry.item.id in shown:
                continue
            cap = caps.get(category)
            if cap is None:
                why = f"category {category!r} is not configured"
            elif place > cap:
                why = f"category cap: {category} shows its best {cap}"
            else:
                why = f"total cap: the digest shows the best {total_cap}"
            item = entry.item
            out.append(
                LeftOut(item.id, item.title, item.url, "capped", "cap", why, category, place, entry.rank)
            )
    return out


def left_out(
    items: Sequence[Item],
    results: Sequence[ItemResult],
    kept: Sequence[DigestEntry],
    sections: Sequence[DigestSection],
    ctx: RunContext,
) -> tuple[LeftOut, ...]:
    """Every item of the window that is not posted: prefilter drops, later drops, held back, capped."""
    by_id = {item.id: item for item in items}
    named = [
        _left_result(r, by_id[r["item_id"]])
        for r in results
        if r.get("status") in STATUS and r.get("item_id") in by_id
    ]
    capped = capped_out(kept, sections, ctx.categories, ctx.settings.app.pipeline.total_cap)
    return (*named, *capped)


def build_sections(
    kept: Sequence[DigestEntry], categories: Sequence[Category], total_cap: int
) -> tuple[DigestSection, ...]:
    by_category: dict[str, list[DigestEntry]] = {c.id: [] for c in categories}
    for entry in kept:
        by_category.setdefault(entry.category, []).append(entry)
    for entries in by_category.values():
        entries.sort(key=lambda e: (-e.rank, e.item.id))
    # The total cap keeps the globally best entries, then each category shows its share in config order.
    capped = {c.id: by_category[c.id][: c.cap] for c in categories}
    ordered = sorted((e for es in capped.values() for e in es), key=lambda e: (-e.rank, e.item.id))
    allowed = {e.item.id for e in ordered[:total_cap]}
    sections = []
    for cat in categories:
        entries = by_category[cat.id]
        if not entries:
            continue
        shown = tuple(e for e in capped[cat.id] if e.item.id in allowed)
        sections.append(DigestSection(cat.id, cat.name, cat.emoji, shown, total=len(entries)))
    return tuple(sections)


def source_counts(
    items: Sequence[Item], kept: Sequence[DigestEntry], fetched: Mapping[str, SourceCount]
) -> dict[str, SourceCount]:
    in_window = Counter(str(i.source) for i in items)
    kept_count = Counter(str(e.item.source) for e in kept)
    names = sorted(set(in_window) | set(fetched))
    return {
        name: SourceCount(
            fetched=in_window[name],
            kept=kept_count[name],
            failed=fetched.get(name, SourceCount()).failed,
            cut_off=fetched.get(name, SourceCount()).cut_off,
        )
        for name in names
    }


def failure_note(results: Sequence[ItemResult]) -> tuple[str, ...]:
    failed = sum(1 for r in results if r.get("status") == "failed")
    return (f"{failed}件の処理に失敗したため掲載を見送りました（詳細は digest.json）",) if failed else ()


def linked_sections(
    kept: Sequence[DigestEntry], results: Sequence[ItemResult], ctx: RunContext
) -> tuple[tuple[DigestSection, ...], Sequence[DigestEntry], tuple[ExplainedPaper, ...]]:
    """The sections with article <-> paper links (`links.py`), the entries in their own slot, and
    「今週の解説記事」; without links, just the sections."""
    total_cap = ctx.settings.app.pipeline.total_cap
    if ctx.links is None:
        return build_sections(kept, ctx.categories, total_cap), kept, ()
    hidden = {r["item_id"] for r in results if r.get("flags") or r.get("status") == "failed"}
    return apply_links(
        kept, ctx.links, lambda entries: build_sections(entries, ctx.categories, total_cap), hidden=hidden
    )


def compose_digest(
    window: Window,
    items: Sequence[Item],
    results: Sequence[ItemResult],
    ctx: RunContext,
    *,
    now: datetime | None = None,
    prefiltered: Sequence[ItemResult] = (),
    watched: Mapping[str, Sequence[WatchMatch]] | None = None,
) -> Digest:
    """`watched` (item id -> what it matched) go to the 注目 section first, outside the caps."""
    by_id = {item.id: item for item in items}
    judged = [
        _entry(r, by_id[r["item_id"]]) for r in results if r.get("status") == "kept" and r["item_id"] in by_id
    ]
    every_kept, ranking = retuned(judged, ctx.taste)  # the learned ranking, when there is one
    pinned, kept = split_watched(every_kept, watched or {})
    sections, shown, explained = linked_sections(kept, results, ctx)
    watch, over_watch_cap = watch_section(pinned, ctx.settings.app.watch.max_items)
    if watch is not None:
        sections = (watch, *sections)
    everything = [*prefiltered, *results]
    general = ctx.settings.app.general
    return Digest(
        window=window,
        title=f"{general.digest_title} {window.label(general.timezone)}",
        sections=sections,
        sources=source_counts(items, every_kept, ctx.fetched),
        offline=ctx.agents.offline,
        generated_at=now or datetime.now(UTC),
        notes=ctx.notes + failure_note(results),
        left_out=(*left_out(items, everything, shown, sections, ctx), *over_watch_cap),
        explained=explained,
        ranking=ranking,
    )


async def compose(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    digest = compose_digest(
        state["window"],
        state.get("items", []),
        state.get("results", []),
        runtime.context,
        prefiltered=state.get("prefiltered", []),
        watched=state.get("watched", {}),
    )
    return {"digest": digest}
