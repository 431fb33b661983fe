"""First drafts for the whole shortlist at once: blurbs, then verdicts, several items per call.

The summarizer and the judge take `batch_size` items per call (their agent files); each item's part
of a batch answer is checked and repaired on its own (`agents/llm_batch.py`). The drafts then go
into the per-item branches (`Send`), whose judge node decides keep / revise / drop with the verdict
already in hand; a revision is summarized and judged again in its own branch, alone.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from digestbot.agents.base import AgentError
from digestbot.domain import Item
from digestbot.graph.context import RunContext
from digestbot.graph.state import ItemState, RunState
from digestbot.settings import Category


async def draft(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    by_id = {item.id: item for item in state.get("candidates", [])}
    classified = state.get("classified", {})
    items = [by_id[item_id] for item_id in classified if item_id in by_id]
    if not items:
        return {"drafts": {}}
    blurbs = await ctx.agents.summarize_many(items, max_chars=ctx.settings.app.pipeline.summary_max_chars)
    drafts: dict[str, ItemState] = {}
    requests: list[tuple[Item, str, Category]] = []
    for item, blurb in zip(items, blurbs, strict=True):
        if isinstance(blurb, AgentError):
            drafts[item.id] = {"draft_error": str(blurb)}
        else:
            drafts[item.id] = {"blurb": blurb}
            requests.append((item, blurb, ctx.settings.category(classified[item.id].primary)))
    ctx.on_progress("summarize", len(requests))
    verdicts = await ctx.agents.judge_many(requests)
    for (item, _, _), verdict in zip(requests, verdicts, strict=True):
        if isinstance(verdict, AgentError):
            drafts[item.id]["judge_error"] = str(verdict)
        else:
            drafts[item.id]["prejudged"] = verdict
    return {"drafts": drafts}
