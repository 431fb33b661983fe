"""Graph state (TypedDicts with explicit reducers) and the structured outputs the agents return."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from digestbot.domain import Digest, Item, WatchMatch, Window

# --- structured outputs (what an LLM must return; validated, then clamped by code) -----------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")  # anything outside the schema is dropped


class Classification(_Out):
    item_id: str = Field(description="the id given in the <item id=...> tag")
    primary: str = Field(description="one category id from the list")
    secondary: list[str] = Field(default_factory=list, description="at most two more category ids")
    confidence: float = Field(default=0.5, description="0.0-1.0")
    relevance: int = Field(default=3, description="1-5: how much the team will care, from title and abstract")
    reason: str = Field(default="", description="one short line")


class ClassificationBatch(_Out):
    results: list[Classification]


class Blurb(_Out):
    blurb: str = Field(description="1-2 Japanese sentences")


class ItemBlurb(Blurb):
    item_id: str = Field(description="the id given in the <item id=...> tag")


class BlurbBatch(_Out):
    results: list[ItemBlurb]


class Verdict(_Out):
    relevance: int = Field(description="1-5: relevance to the team's interests")
    significance: int = Field(description="1-5: significance / novelty")
    faithfulness: int = Field(description="1-5: every claim and number of the blurb is in the source")
    japanese: int = Field(description="1-5: natural, concise Japanese in digest style")
    rationale: str = Field(default="", description="one or two short sentences")
    feedback: str = Field(default="", description="what the summarizer must fix, if anything")


class ItemVerdict(Verdict):
    item_id: str = Field(description="the id given in the <item id=...> tag")


class VerdictBatch(_Out):
    results: list[ItemVerdict]


# --- per-item outcome flowing up through the reducer ------------------------------------------------


class ItemResult(TypedDict, total=False):
    item_id: str
    stage: str  # where it stopped: "prefilter" | "classifier" | "shortlist" | "summarizer" | "judge"
    category: str
    secondary: list[str]
    confidence: float
    relevance: int  # the classifier's 1..5
    reason: str  # the classifier's one-line reason
    blurb: str
    verdict: dict[str, object]
    revisions: int
    status: str  # "kept" | "dropped" | "failed"
    detail: str  # why dropped / failed (shown in the run report, never in the digest body)
    flags: list[str]  # why the item's text reads as a prompt injection (agents/guards.py)
    watch: list[WatchMatch]  # a watched item: what it matched (`[watch]`; it goes to 注目)
    watch_flag: str  # a watched item the judge would have dropped: why, and the fallback used


class RunState(TypedDict, total=False):
    window: Window
    items: list[Item]
    candidates: list[Item]
    prefilter_dropped: dict[str, int]  # rule -> count
    prefiltered: list[ItemResult]  # each item the prefilter dropped, with its rule (stage "prefilter")
    watched: dict[str, tuple[WatchMatch, ...]]  # item id -> what it matched in `[watch]`
    classified: dict[str, Classification]
    drafts: dict[
        str, ItemState
    ]  # item id -> first blurb and verdict from the batched calls (graph/nodes/draft.py)
    results: Annotated[list[ItemResult], operator.add]
    digest: Digest


class ItemState(TypedDict, total=False):
    item: Item
    classification: Classification
    blurb: str
    verdict: Verdict
    revisions: int
    feedback: str
    outcome: str  # "" while working; "revise" sends the blurb back to the summarizer; "done" ends the branch
    prejudged: Verdict | None  # the batched judge's verdict on the first blurb (None once used)
    draft_error: str  # the batched summarizer held this item back: why
    judge_error: str  # the batched judge held this item back: why
    watch: tuple[WatchMatch, ...]  # non-empty: a watched item (the judge cannot drop it)
    results: Annotated[list[ItemResult], operator.add]
