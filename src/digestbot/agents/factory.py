"""`build_agents`: the one place that decides between the LLM-backed and the offline agents."""

from __future__ import annotations

from typing import TYPE_CHECKING

from digestbot.agents.base import Agents
from digestbot.agents.cached import ResultStore
from digestbot.agents.offline import OfflineAgents
from digestbot.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

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
