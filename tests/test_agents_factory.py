"""`build_agents`: offline heuristics without a model, LLM agents with one (agents/factory.py)."""

from __future__ import annotations

from pathlib import Path

from digestbot.agents.factory import build_agents
from digestbot.agents.llm_agents import LlmAgents
from digestbot.agents.offline import OfflineAgents
from digestbot.settings import load_settings
from digestbot.testing.scripted_chat import ScriptedChat

REPO = Path(__file__).resolve().parents[1]


def test_no_model_configured_gives_offline_agents() -> None:
    """With llm.model empty and no injected model, the factory returns OfflineAgents."""
    agents = build_agents(load_settings(REPO / "config", environ={}))
    expected = (OfflineAgents, True)
    assert expected == (type(agents), agents.offline)


def test_configured_model_gives_llm_agents() -> None:
    """With a model configured (here a scripted one injected), the factory returns LlmAgents."""
    environ = {"DIGESTBOT_LLM_MODEL": "openai:gpt-4o-mini", "DIGESTBOT_AGENTS_DIR": str(REPO / "agents")}
    agents = build_agents(load_settings(REPO / "config", environ=environ), chat_model=ScriptedChat())
    expected = (LlmAgents, False, "openai:gpt-4o-mini")
    assert expected == (type(agents), agents.offline, agents.usage.model)


def test_injected_chat_model_selects_llm_agents_even_without_a_configured_model() -> None:
    """A test that injects a chat model gets the LLM agents, whatever llm.model says."""
    environ = {"DIGESTBOT_AGENTS_DIR": str(REPO / "agents")}
    agents = build_agents(load_settings(REPO / "config", environ=environ), chat_model=ScriptedChat())
    expected = (LlmAgents, False)
    assert expected == (type(agents), agents.offline)
