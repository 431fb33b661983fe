"""The cost ladder end to end on a small generated week, through init_chat_model + the openai SDK over
HTTP to the local OpenAI-compatible server and the simulated model: the calls each rung makes."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from benchmarks.knobs import write_config
from benchmarks.scenario import NoStore
from benchmarks.week import WINDOW, arxiv_week

from digestbot.agents.cached import CachedAgents
from digestbot.agents.llm_agents import LlmAgents
from digestbot.domain import Item, SourceName
from digestbot.runner import run_pipeline
from digestbot.settings import load_settings
from digestbot.testing.openai_server import OpenAIServer, schema_name
from digestbot.testing.simulated_llm import SimulatedLLM


def _week(n: int) -> list[Item]:
    entries, _, _ = arxiv_week(n, WINDOW, seed=11)
    items = {}
    for e in entries:
        local = str(e["id"]).rsplit("v", 1)[0]
        items[local] = Item(
            id=f"arxiv:{local}",
            source=SourceName.ARXIV,
            url=f"https://arxiv.org/abs/{local}",
            title=str(e["title"]),
            text=str(e["summary"]),
            published=e["published"],  # type: ignore[arg-type]
            updated=e["updated"],  # type: ignore[arg-type]
        )
    return list(items.values())


@dataclass(frozen=True)
class Ladder:
    calls: dict[str, int]  # client side, per agent
    items: dict[str, int]  # items each agent was asked about
    served: Counter[str]  # server side, per schema
    dropped: Counter[str]  # per stage
    shortlisted: int
    posted: int


@pytest.fixture(scope="module")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> Ladder:
    """One run of the shipped ladder (pre-rank margin 0.5 so that it cuts on this small week)."""
    tmp = tmp_path_factory.mktemp("ladder")
    config = write_config(tmp / "config", {"pipeline.prerank.margin": 0.5, "llm.requests_per_second": 1000.0})
    base = load_settings(config, {})
    with OpenAIServer(SimulatedLLM({c.id: c.keywords for c in base.categories})) as server:
        env = {
            "DIGESTBOT_DATA_DIR": str(tmp / "data"),
            "DIGESTBOT_LLM_MODEL": "openai:gpt-4o-mini",
            "DIGESTBOT_LLM_BASE_URL": server.base_url,
            "DIGESTBOT_LLM_API_KEY": "sk-test",
            "DIGESTBOT_AGENTS_DIR": str(Path(__file__).resolve().parents[1] / "agents"),
        }
        settings = load_settings(config, env)
        inner = LlmAgents(settings)
        run = run_pipeline(settings, WINDOW, _week(240), CachedAgents(inner, NoStore()))
        digest, results, _ = asyncio.run(run)
        served = Counter(schema_name(body) or "" for body in server.completions)
    return Ladder(
        calls={name: usage.calls for name, usage in inner.usage.per_agent.items()},
        items={name: usage.items for name, usage in inner.usage.per_agent.items()},
        served=served,
        dropped=Counter(r.get("stage", "") for r in results if r.get("status") == "dropped"),
        shortlisted=sum(1 for r in results if r.get("stage") == "judge"),
        posted=digest.entry_count,
    )


def test_server_side_calls_agree_with_the_client(ladder: Ladder) -> None:
    """What the bot counted is what the local server answered, per agent."""
    served = ladder.served
    assert ladder.calls["classifier"] == served["ClassificationBatch"]
    assert ladder.calls["summarizer"] == served["BlurbBatch"] + served["Blurb"]
    assert ladder.calls["judge"] == served["VerdictBatch"] + served["Verdict"]


def test_each_rung_makes_the_calls_its_batch_sizes_say(ladder: Ladder) -> None:
    """The pre-rank cuts; 32 items per classifier call; the shortlist drafted and judged 8 per call;
    each revision one blurb and one verdict; at most 3 calls per posted item."""
    served = ladder.served
    assert ladder.dropped["prerank"] > 0
    assert math.ceil(ladder.items["classifier"] / 32) == served["ClassificationBatch"]
    assert math.ceil(ladder.shortlisted / 8) == served["BlurbBatch"] == served["VerdictBatch"]
    assert served["Blurb"] == served["Verdict"]
    assert 0 < ladder.posted
    assert sum(ladder.calls.values()) <= 3 * ladder.posted
