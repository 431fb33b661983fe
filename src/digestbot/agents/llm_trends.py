"""The trends agent (`agents/trends.md`) on the LLM agents' model: writes the 考察 of the trends section."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from digestbot.agents.llm_agents import LlmAgents, untrusted
from digestbot.graph.state import Blurb

Write = Callable[[dict[str, Any], str, str], Awaitable[str]]  # (variables, feedback, previous) -> text


def insight_writer(agents: object) -> Write | None:
    """A writer when `agents` are LLM agents with a trends prompt; None otherwise (offline: no 考察)."""
    if not isinstance(agents, LlmAgents) or "trends" not in agents.specs:
        return None
    spec = agents.specs["trends"]

    async def write(variables: dict[str, Any], feedback: str, previous: str) -> str:
        messages = spec.render(**variables, feedback=untrusted(feedback), previous=untrusted(previous))
        answer = await agents.call("trends", Blurb, messages)
        return answer.blurb.strip()

    return write
