"""Write (or revise, with the judge's feedback) the Japanese blurb for one item."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from digestbot.agents.base import AgentError
from digestbot.graph.context import RunContext
from digestbot.graph.state import ItemResult, ItemState


async def summarize(state: ItemState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    item = state["item"]
    feedback = state.get("feedback", "")
    try:
        if state.get("draft_error"):  # the batched draft held it back already (graph/nodes/draft.py)
            raise AgentError(state["draft_error"])
        blurb = await ctx.agents.summarize(
            item, max_chars=ctx.settings.app.pipeline.summary_max_chars, feedback=feedback
        )
    except AgentError as exc:
        ctx.on_progress("summarize", 1)
        cls = state["classification"]
        failed: ItemResult = {
            "item_id": item.id,
            "stage": "summarizer",
            "status": "failed",
            "detail": f"summarizer: {exc}",
            "category": cls.primary,
            "relevance": cls.relevance,
            "reason": cls.reason,
        }
        return {"outcome": "done", "results": [failed]}
    if not feedback:
        ctx.on_progress("summarize", 1)
    return {"blurb": blurb, "outcome": ""}


def after_summarize(state: ItemState) -> str:
    return "end" if state.get("outcome") == "done" else "judge"
