"""LLM-as-a-Judge: score the item and its blurb; code decides keep, revise or drop."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from digestbot.agents.base import AgentError
from digestbot.domain import Scores
from digestbot.graph.context import RunContext
from digestbot.graph.state import ItemResult, ItemState, Verdict
from digestbot.settings import JudgeConfig


def clamp(score: object) -> int:
    """Any value the model sent -> an integer on the 1..5 rubric (non-numbers count as the worst score)."""
    try:
        value = round(float(score))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 1
    return min(5, max(1, value))


def scores_of(verdict: Verdict) -> Scores:
    return Scores(
        relevance=clamp(verdict.relevance),
        significance=clamp(verdict.significance),
        faithfulness=clamp(verdict.faithfulness),
        japanese=clamp(verdict.japanese),
    )


def decide(scores: Scores, config: JudgeConfig, revisions: int) -> tuple[str, str]:
    """-> ("keep" | "revise" | "drop", why). Only the blurb's own faults are worth a revision."""
    if scores.relevance < config.min_relevance:
        return "drop", f"relevance {scores.relevance} < {config.min_relevance}"
    if scores.significance < config.min_significance:
        return "drop", f"significance {scores.significance} < {config.min_significance}"
    blurb_faults = []
    if scores.faithfulness < config.min_faithfulness:
        blurb_faults.append(f"faithfulness {scores.faithfulness} < {config.min_faithfulness}")
    if scores.japanese < config.min_japanese:
        blurb_faults.append(f"japanese {scores.japanese} < {config.min_japanese}")
    if not blurb_faults:
        return "keep", ""
    if revisions < config.max_revisions:
        return "revise", "; ".join(blurb_faults)
    return "drop", "; ".join(blurb_faults) + f" after {revisions} revision(s)"


def _result(
    state: ItemState, status: str, detail: str, scores: Scores | None, verdict: Verdict | None
) -> ItemResult:
    cls = state["classification"]
    result: ItemResult = {
        "item_id": state["item"].id,
        "stage": "judge",
        "category": cls.primary,
        "secondary": list(cls.secondary),
        "confidence": cls.confidence,
        "relevance": cls.relevance,
        "reason": cls.reason,
        "blurb": state.get("blurb", ""),
        "revisions": state.get("revisions", 0),
        "status": status,
        "detail": detail,
    }
    if scores is not None and verdict is not None:
        result["verdict"] = {
            "relevance": scores.relevance,
            "significance": scores.significance,
            "faithfulness": scores.faithfulness,
            "japanese": scores.japanese,
            "rationale": verdict.rationale.strip()[:300],
        }
    return result


async def judge(state: ItemState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    item, blurb = state["item"], state["blurb"]
    category = ctx.settings.category(state["classification"].primary)
    revisions = state.get("revisions", 0)
    try:
        verdict = await ctx.agents.judge(item, blurb, category)
    except AgentError as exc:
        ctx.on_progress("judge", 1)
        return {"outcome": "done", "results": [_result(state, "failed", f"judge: {exc}", None, None)]}
    scores = scores_of(verdict)
    action, why = decide(scores, ctx.settings.app.pipeline.judge, revisions)
    if action == "revise":
        feedback = verdict.feedback.strip() or why
        return {
            "outcome": "revise",
            "revisions": revisions + 1,
            "feedback": f"{feedback}（前回の要約: {blurb}）",
        }
    ctx.on_progress("judge", 1)
    status = "kept" if action == "keep" else "dropped"
    return {"outcome": "done", "results": [_result(state, status, why, scores, verdict)]}


def after_judge(state: ItemState) -> str:
    return "summarize" if state.get("outcome") == "revise" else "end"
