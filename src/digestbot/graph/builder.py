"""The digest pipeline as a LangGraph `StateGraph`. This module only wires; nodes live in `graph/nodes/`.

START → find_watched → prefilter → prerank → classify → draft
  ─Send per item─▶ item: (summarize ⇄) judge ─▶ compose → END
  └──(no candidates)──────────────────────────▶ compose

`draft` writes and judges the whole shortlist in batches; each item's branch starts at the judge
with that verdict, and a revision goes back to the summarizer, alone. `find_watched` marks the
`[watch]` items first: no later node drops them (`watch_pipeline.py`).
"""

from __future__ import annotations

from collections.abc import Mapping

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from digestbot.domain import WatchMatch
from digestbot.graph.context import RunContext
from digestbot.graph.nodes.classify import classify
from digestbot.graph.nodes.compose import compose
from digestbot.graph.nodes.draft import draft
from digestbot.graph.nodes.judge import after_judge, judge
from digestbot.graph.nodes.prefilter import prefilter_node
from digestbot.graph.nodes.prerank import prerank_node
from digestbot.graph.nodes.summarize import after_summarize, summarize
from digestbot.graph.nodes.watch import find_watched
from digestbot.graph.state import ItemState, RunState


def build_item_graph() -> StateGraph[ItemState, RunContext, ItemState, ItemState]:
    """One item's branch: summarize, judge, and back to summarize once per allowed revision."""
    item = StateGraph(ItemState, context_schema=RunContext)
    item.add_node("summarize", summarize)
    item.add_node("judge", judge)
    item.add_conditional_edges(START, start_item, {"summarize": "summarize", "judge": "judge"})
    item.add_conditional_edges("summarize", after_summarize, {"judge": "judge", "end": END})
    item.add_conditional_edges("judge", after_judge, {"summarize": "summarize", "end": END})
    return item


def start_item(state: ItemState) -> str:
    """A branch with its first blurb drafted already starts at the judge."""
    return "judge" if state.get("blurb") else "summarize"


def _watch(watched: Mapping[str, tuple[WatchMatch, ...]], item_id: str) -> ItemState:
    """A watched item's branch knows what it matched (the judge cannot drop it)."""
    return {"watch": watched[item_id]} if item_id in watched else {}


def fan_out(state: RunState) -> list[Send] | str:
    """One `Send` per classified item with its draft; each branch sees only its own item."""
    by_id = {item.id: item for item in state.get("candidates", [])}
    drafts = state.get("drafts", {})
    watched = state.get("watched", {})
    sends = [
        Send(
            "item",
            {"item": by_id[item_id], "classification": cls, "revisions": 0}
            | drafts.get(item_id, {})
            | _watch(watched, item_id),
        )
        for item_id, cls in state.get("classified", {}).items()
        if item_id in by_id
    ]
    return sends or "compose"


def build_graph() -> StateGraph[RunState, RunContext, RunState, RunState]:
    """The uncompiled pipeline; callers compile it (tests with a fresh checkpointer if they want one)."""
    graph = StateGraph(RunState, context_schema=RunContext)
    graph.add_node("find_watched", find_watched)
    graph.add_node("prefilter", prefilter_node)
    graph.add_node("prerank", prerank_node)
    graph.add_node("classify", classify)
    graph.add_node("draft", draft)
    graph.add_node("item", build_item_graph().compile())
    graph.add_node("compose", compose)
    graph.add_edge(START, "find_watched")
    graph.add_edge("find_watched", "prefilter")
    graph.add_edge("prefilter", "prerank")
    graph.add_edge("prerank", "classify")
    graph.add_edge("classify", "draft")
    graph.add_conditional_edges("draft", fan_out, ["item", "compose"])
    graph.add_edge("item", "compose")
    graph.add_edge("compose", END)
    return graph
