"""LLM-as-a-Judge: score the item and its blurb; code decides keep, revise or drop.

The code guards (`agents/guards.py`) run on every blurb whichever judge scored it: a failed guard
caps faithfulness / japanese below the keep thresholds, is sent back once as the revision's
feedback, and after the last revision the failing sentence is dropped (when the rest passes) or
the item is held back. `judge_blurb()` is that one decision, shared with `digestbot eval`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime

from digestbot.agents import guards
from digestbot.agents.base import AgentError, Agents
from digestbot.domain import Item, Scores
from digestbot.graph.context import RunContext
from digestbot.graph.state import ItemResult, ItemState, Verdict
from digestbot.settings import Category, JudgeConfig
from digestbot.watch_pipeline import keep_watched


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


def decide(
    scores: Scores, config: JudgeConfig, revisions: int, guard: guards.GuardReport | None = None
) -> tuple[str, str]:
    """-> ("keep" | "revise" | "drop", why). Only the blurb's own faults are worth a revision.

    A failed guard is a blurb fault whatever the scores say: such a blurb is never kept.
    """
    if scores.relevance < config.min_relevance:
        return "drop", f"relevance {scores.relevance} < {config.min_relevance}"
    if scores.significance < config.min_significance:
        return "drop", f"significance {scores.significance} < {config.min_significance}"
    blurb_faults = []
    if scores.faithfulness < config.min_faithfulness:
        blurb_faults.append(f"faithfulness {scores.faithfulness} < {config.min_faithfulness}")
    if scores.japanese < config.min_japanese:
        blurb_faults.append(f"japanese {scores.japanese} < {config.min_japanese}")
    if guard is not None and not guard.ok:
        blurb_faults.append(f"guard {guard.reason()}")
    if not blurb_faults:
        return "keep", ""
    if revisions < config.max_revisions:
        return "revise", "; ".join(blurb_faults)
    return "drop", "; ".join(blurb_faults) + f" after {revisions} revision(s)"


@dataclass(frozen=True)
class Judged:
    """One judge step: the (possibly salvaged) blurb, its capped scores and what to do next."""

    action: str  # keep | revise | drop
    why: str
    blurb: str
    scores: Scores
    verdict: Verdict
    feedback: str  # for a revision: the guards' reasons, then the judge's


async def judge_blurb(
    agents: Agents,
    item: Item,
    blurb: str,
    category: Category,
    config: JudgeConfig,
    *,
    revisions: int,
    max_chars: int,
    verdict: Verdict | None = None,
) -> Judged:
    """Judge `blurb` (or take the `verdict` already given on it), cap the scores by the guards and
    decide; after the last revision, drop the failing sentences when what is left passes every guard
    (judged again), else hold the item back."""
    verdict = verdict or await agents.judge(item, blurb, category)
    report = guards.check_blurb(item, blurb, max_chars=max_chars)
    caps = {"min_faithfulness": config.min_faithfulness, "min_japanese": config.min_japanese}
    scores = guards.cap_scores(scores_of(verdict), report, **caps)
    action, why = decide(scores, config, revisions, report)
    feedback = "。".join(part for part in (report.feedback(), verdict.feedback.strip()) if part) or why
    blurb_fault = action == "drop" and not report.ok and not why.startswith(("relevance", "significance"))
    if blurb_fault:
        rest = guards.salvage(item, blurb, max_chars=max_chars)
        if rest is not None:
            again = await agents.judge(item, rest, category)
            rest_scores = guards.cap_scores(
                scores_of(again), guards.check_blurb(item, rest, max_chars=max_chars), **caps
            )
            rest_action, rest_why = decide(rest_scores, config, config.max_revisions)
            if rest_action == "keep":
                note = f"guard: dropped the failing sentence ({report.reason()})"
                return Judged("keep", note, rest, rest_scores, again, "")
            why = f"{why}; without the failing sentence: {rest_why}"
    if blurb_fault:
        why = f"guard: held back: {why}"
    return Judged(action, why, blurb, scores, verdict, feedback)


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
    flags = guards.injection_flags(state["item"])
    if flags:
        result["flags"] = [flag.reason for flag in flags]
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
    pipeline = ctx.settings.app.pipeline
    try:
        if state.get("judge_error"):  # the batched judge held it back already (graph/nodes/draft.py)
            raise AgentError(state["judge_error"])
        judged = await judge_blurb(
            ctx.agents,
            item,
            blurb,
            category,
            pipeline.judge,
            revisions=revisions,
            max_chars=pipeline.summary_max_chars,
            verdict=state.get("prejudged"),
        )
    except AgentError as exc:
        ctx.on_progress("judge", 1)
        return {"outcome": "done", "results": [_result(state, "failed", f"judge: {exc}", None, None)]}
    if judged.action == "revise":
        return {
            "outcome": "revise",
            "prejudged": None,
            "revisions": revisions + 1,
            "feedback": f"{judged.feedback}（前回の要約: {blurb}）",
        }
    ctx.on_progress("judge", 1)
    flag = ""
    if state.get("watch"):  # a watched item: the judge flags, never drops (watch_pipeline.py)
        judged, flag = keep_watched(judged, item, max_chars=pipeline.summary_max_chars)
    status = "kept" if judged.action == "keep" else "dropped"
    result = _result({**state, "blurb": judged.blurb}, status, judged.why, judged.scores, judged.verdict)
    if flag:
        result["watch_flag"] = flag
    return {"outcome": "done", "results": [result]}


def after_judge(state: ItemState) -> str:
    return "summarize" if state.get("outcome") == "revise" else "end"
