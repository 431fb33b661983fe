"""`build_agents`: the one place that decides between the LLM-backed and the offline agents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from digestbot.agents.base import Agents
from digestbot.agents.cached import ResultStore
from digestbot.agents.offline import OfflineAgents
from digestbot.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from sqlalchemy import Engine

    from digestbot.corrections import CorrectionExamples
    from digestbot.feedback import JudgeGuidance


def build_agents(
    settings: Settings,
    *,
    chat_model: BaseChatModel | None = None,
    guidance: JudgeGuidance | None = None,
    cache: ResultStore | None = None,
    corrections: CorrectionExamples | None = None,
) -> Agents:
    """Offline heuristics when no model is configured (`llm.model` empty) and none is injected.

    Otherwise `LlmAgents`, imported only here so that offline runs never load langchain. An injected
    `chat_model` (a scripted fake in tests) always selects the LLM agents. `guidance` (the team's
    liked and disliked items) goes to the LLM judge; the offline judge does not use it. `cache` (the
    store's result cache) keeps the offline classifier's item embeddings across runs. `corrections`
    (the team's category fixes from Slack) are the classifier's few-shot examples, and extra
    prototypes for the offline classifier.
    """
    if settings.offline and chat_model is None:
        return OfflineAgents(settings, cache=cache, corrections=corrections)
    from digestbot.agents.llm_agents import LlmAgents

    return LlmAgents(settings, chat_model=chat_model, guidance=guidance, corrections=corrections)


def agents_for_run(settings: Settings, engine: Engine, *, now: datetime | None = None) -> Agents:
    """The agents of every run (scheduled, `/digest`, `digestbot run`), with what the team taught them,
    read from the store here and nowhere else: its votes as the judge's guidance (if
    `[feedback] guidance`), its category corrections as the classifier's few-shot examples."""
    from digestbot.corrections import examples_for
    from digestbot.store.cache import ResultCache

    now = now or datetime.now(UTC)
    guidance = None
    if settings.app.feedback.guidance:
        from digestbot.feedback import load_guidance

        feedback = settings.app.feedback
        guidance = load_guidance(
            engine, now=now, days=feedback.guidance_days, examples=feedback.guidance_examples
        )
    return build_agents(
        settings,
        guidance=guidance,
        cache=ResultCache(engine),
        corrections=examples_for(settings, engine, now),
    )
