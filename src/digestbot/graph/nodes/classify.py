"""Classify the candidates in batches; map what the model answered onto the configured categories."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langgraph.runtime import Runtime

from digestbot.agents.base import AgentError
from digestbot.domain import Item
from digestbot.graph.context import RunContext
from digestbot.graph.state import Classification, ItemResult, RunState
from digestbot.settings import Category


def clean_classification(
    raw: Classification, categories: Sequence[Category], other: str | None
) -> Classification | None:
    """Keep only configured ids: unknown primary -> `other` (or None = off-topic), ≤ 2 distinct secondaries."""
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
        reason=raw.reason.strip()[:200],
    )


def _failed(item: Item, detail: str) -> ItemResult:
    return {"item_id": item.id, "status": "failed", "detail": f"classifier: {detail}"}


def _off_topic(item: Item, reason: str) -> ItemResult:
    return {"item_id": item.id, "status": "dropped", "detail": f"classifier: fits no category ({reason})"}


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
    for batch, answers in zip(batches, answered, strict=True):
        for item, answer in zip(batch, answers, strict=True):
            if isinstance(answer, AgentError):
                results.append(_failed(item, str(answer)))
                continue
            cleaned = clean_classification(answer, ctx.categories, other)
            if cleaned is None:
                results.append(_off_topic(item, answer.primary))
            elif ctx.only_category in (None, cleaned.primary):
                classified[item.id] = cleaned
    ctx.on_progress("classified", len(classified))
    return {"classified": classified, "results": results}
