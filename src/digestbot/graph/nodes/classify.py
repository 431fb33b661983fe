"""Classify the candidates in batches; map what the model answered onto the configured categories."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Container, Sequence
from typing import Any

from langgraph.runtime import Runtime

from digestbot.agents.base import AgentError
from digestbot.domain import Item
from digestbot.graph.context import RunContext
from digestbot.graph.nodes.judge import clamp
from digestbot.graph.state import Classification, ItemResult, RunState
from digestbot.settings import Category
from digestbot.watch_pipeline import watched_fallback


def clean_classification(
    raw: Classification, categories: Sequence[Category], other: str | None
) -> Classification | None:
    """Keep configured ids only: unknown primary -> `other` (None = off-topic); ≤ 2 secondaries."""
    known = {c.id for c in categories}
    primary = raw.primary.strip().lower()
    if primary not in known:
        if not other:
            return None
        primary = other
    secondary: list[str] = []
    for cat in raw.secondary:
        cat_id = cat.strip().lower()
        if cat_id in known and cat_id != primary and cat_id not in secondary:
            secondary.append(cat_id)
    confidence = min(1.0, max(0.0, raw.confidence))
    return Classification(
        item_id=raw.item_id,
        primary=primary,
        secondary=secondary[:2],
        confidence=confidence,
        relevance=clamp(raw.relevance),
        reason=raw.reason.strip()[:200],
    )


def shortlist(
    classified: dict[str, Classification],
    items: Sequence[Item],
    categories: Sequence[Category],
    factor: float,
    min_relevance: int,
    *,
    total_cap: int | None = None,
    watched: Container[str] = frozenset(),
) -> tuple[dict[str, Classification], list[ItemResult]]:
    """Keep what can be posted, with a margin, for the (costly) summarizer and judge.

    The digest shows at most `cap` items of a category and `total_cap` in all, so the shortlist is
    sized by those caps: the best `ceil(cap × factor)` of each category, and of those the best
    `ceil(total_cap × factor)` overall. Ranked by the classifier's relevance, then confidence, then
    popularity; ties by id, so the choice is deterministic. What is cut is reported, never lost.
    A `watched` item is always kept and takes no category's (nor the total's) place.
    """
    by_id = {item.id: item for item in items}
    dropped: list[ItemResult] = []
    groups: dict[str, list[str]] = {}
    pinned: dict[str, Classification] = {}
    for item_id, cls in classified.items():
        if item_id in watched:
            pinned[item_id] = cls
        elif cls.relevance < min_relevance:
            why = f"classifier: relevance {cls.relevance} < {min_relevance}"
            dropped.append(_dropped(item_id, "classifier", why, cls))
        else:
            groups.setdefault(cls.primary, []).append(item_id)
    caps = {c.id: c.cap for c in categories}
    admitted: list[str] = []
    for category, ids in groups.items():
        ids.sort(key=lambda i: _order(classified[i], by_id[i]))
        limit = len(ids) if factor <= 0 else max(1, math.ceil(caps.get(category, 1) * factor))
        for rank, item_id in enumerate(ids):
            if rank < limit:
                admitted.append(item_id)
            else:
                why = f"not shortlisted: {category} keeps its best {limit} for summaries (rank {rank + 1})"
                dropped.append(_dropped(item_id, "shortlist", why, classified[item_id]))
    admitted.sort(key=lambda i: _order(classified[i], by_id[i]))
    overall = len(admitted) if factor <= 0 or total_cap is None else math.ceil(total_cap * factor)
    kept: dict[str, Classification] = dict(pinned)
    for rank, item_id in enumerate(admitted):
        if rank < overall:
            kept[item_id] = classified[item_id]
        else:
            why = f"not shortlisted: the digest keeps its best {overall} for summaries (rank {rank + 1})"
            dropped.append(_dropped(item_id, "shortlist", why, classified[item_id]))
    return kept, dropped


def _order(cls: Classification, item: Item) -> tuple[int, float, int, str]:
    return (-cls.relevance, -cls.confidence, -item.popularity.score(), item.id)


def _dropped(item_id: str, stage: str, detail: str, cls: Classification) -> ItemResult:
    return {
        "item_id": item_id,
        "stage": stage,
        "status": "dropped",
        "detail": detail,
        "category": cls.primary,
        "relevance": cls.relevance,
        "confidence": cls.confidence,
        "reason": cls.reason,
    }


def _failed(item: Item, detail: str) -> ItemResult:
    return {"item_id": item.id, "stage": "classifier", "status": "failed", "detail": f"classifier: {detail}"}


def _off_topic(item: Item, reason: str) -> ItemResult:
    detail = f"classifier: fits no category ({reason[:40]})"
    return {"item_id": item.id, "stage": "classifier", "status": "dropped", "detail": detail}


async def _classify_batch(ctx: RunContext, batch: list[Item]) -> list[Classification | AgentError]:
    try:
        answers = await ctx.agents.classify(batch, ctx.categories)
    except AgentError as exc:
        answers = [exc] * len(batch)
    ctx.on_progress("classify", len(batch))
    return list(answers)


async def classify(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    items = state.get("candidates", [])
    ctx.on_progress("candidates", len(items))
    size = max(1, ctx.agents.batch_size("classifier"))
    batches = [items[i : i + size] for i in range(0, len(items), size)]
    answered = await asyncio.gather(*(_classify_batch(ctx, batch) for batch in batches))
    other = ctx.settings.app.pipeline.other_category or None
    classified: dict[str, Classification] = {}
    results: list[ItemResult] = []
    watched = state.get("watched", {})
    for batch, answers in zip(batches, answered, strict=True):
        for item, answer in zip(batch, answers, strict=True):
            if item.id in watched and (
                isinstance(answer, AgentError) or not clean_classification(answer, ctx.categories, other)
            ):  # a watched item is never dropped for its category nor held back by the classifier
                answer = watched_fallback(item, answer, ctx.categories, other)  # noqa: PLW2901
            if isinstance(answer, AgentError):
                results.append(_failed(item, str(answer)))
                continue
            cleaned = clean_classification(answer, ctx.categories, other)
            if cleaned is not None and cleaned.primary != answer.primary.strip().lower():
                why = f"category {answer.primary.strip()[:40]!r} unknown: mapped to {cleaned.primary!r}"
                ctx.agents.usage.record("classifier", item.id, "mapped_to_other", why)
            if cleaned is None:
                results.append(_off_topic(item, answer.primary))
            elif ctx.only_category in (None, cleaned.primary):
                classified[item.id] = cleaned
    pipeline = ctx.settings.app.pipeline
    classified, cut = shortlist(
        classified,
        items,
        ctx.categories,
        pipeline.shortlist_factor,
        pipeline.min_classifier_relevance,
        total_cap=pipeline.total_cap,
        watched=watched,
    )
    ctx.on_progress("classified", len(classified))
    return {"classified": classified, "results": results + cut}
