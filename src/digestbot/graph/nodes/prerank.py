"""Local-embedding pre-rank between the prefilter and the LLM classifier (`agents/prerank.py` has the rule).

LLM mode only: offline, the classifier is the embedding model itself and costs nothing per item.
Skipped for one-category runs (`/digest rag`), which classify everything and keep one category.
What it cuts is recorded per item (stage "prerank"), never silently lost.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from digestbot.agents.cached import CachedAgents
from digestbot.agents.embedding import EmbeddingCache, shared_embedder
from digestbot.agents.prerank import prerank
from digestbot.graph.context import RunContext
from digestbot.graph.state import ItemResult, RunState


def prerank_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    config = ctx.settings.app.pipeline.prerank
    watched = state.get("watched", {})
    items = [item for item in state.get("candidates", []) if item.id not in watched]  # always pass
    pinned = [item for item in state.get("candidates", []) if item.id in watched]
    if ctx.agents.offline or not config.enabled or ctx.only_category is not None:
        return {}
    store = ctx.agents.store if isinstance(ctx.agents, CachedAgents) else None
    other = ctx.settings.app.pipeline.other_category or None
    result = prerank(
        items, ctx.categories, other, config, embeddings=EmbeddingCache(shared_embedder(), store)
    )
    if not result.embedded:
        return {}
    named: list[ItemResult] = [
        {"item_id": item_id, "stage": "prerank", "status": "dropped", "detail": why}
        for item_id, why in result.dropped
    ]
    return {"candidates": pinned + result.kept, "results": named}
