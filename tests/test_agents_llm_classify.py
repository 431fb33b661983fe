"""The classifier's ladder (repair → alone → held back) through the real client and the local server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.test_agents_llm_agents import CATEGORIES, Sleeps, make_item, make_settings

from digestbot.agents.base import AgentError
from digestbot.agents.llm_agents import LlmAgents
from digestbot.graph.state import Classification
from digestbot.testing.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[1]
IDS = [c.id for c in CATEGORIES]


def asked(request: dict[str, Any]) -> list[str]:
    user = next(m["content"] for m in request["messages"] if m["role"] == "user")
    return re.findall(r'<item id="([^"]+)">', user)


def answer(ids: list[str], primary: dict[str, str] | None = None) -> dict[str, Any]:
    chosen = primary or {}
    return {
        "results": [
            {
                "item_id": i,
                "primary": chosen.get(i, "rag"),
                "secondary": [],
                "confidence": 0.8,
                "relevance": 4,
                "reason": f"理由{i}",
            }
            for i in ids
        ]
    }


class Script:
    """Answers the classifier from a list of functions (one per request), recording nothing itself."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.steps.pop(0)(asked(request))  # type: ignore[no-any-return]


def inexact(ids: list[str]) -> dict[str, Any]:
    """Item 3 missing, item 5 twice, item 2 under an unknown category id."""
    data = answer([i for i in ids if i != "3"], primary={"2": "llm"})
    data["results"].append(dict(data["results"][3]))  # a second answer for item 5
    return data


def agents_for(server: OpenAIServer) -> LlmAgents:
    return LlmAgents(make_settings(base_url=server.base_url), agents_dir=ROOT / "agents", sleep=Sleeps())


async def test_inexact_batch_of_8_is_repaired_in_two_calls_and_every_item_is_named() -> None:
    """Unknown category, a skipped and a duplicated item: one repair request naming each; 8 items, 2 calls."""
    with OpenAIServer(Script(inexact, answer)) as server:
        agents = agents_for(server)
        items = [make_item(n) for n in range(8)]
        results = await agents.classify(items, CATEGORIES)
        bodies = server.completions
    expected = 2
    assert expected == len(bodies)
    repair = bodies[1]["messages"][-1]["content"]
    problems = (
        "item 2: category 'llm' unknown",
        "item 3: missing",
        "item 5: answered 2 times",
        "valid category ids: training, ",
    )
    for problem in problems:
        assert problem in repair
    assert [item.id for item in items] == [r.item_id for r in results if isinstance(r, Classification)]
    expected_named = [(items[1].id, "repaired"), (items[2].id, "repaired"), (items[4].id, "repaired")]
    assert expected_named == sorted((i.item_id, i.kind) for i in agents.usage.incidents)
    usage = agents.usage.per_agent["classifier"]
    assert (2, 1, 0, 0, 8) == (usage.calls, usage.repairs, usage.retries, usage.failures, usage.items)


async def test_schema_sent_lists_the_category_ids_the_item_ids_and_the_exact_count() -> None:
    """The strict json_schema has enums of this run's categories and the batch's ids; minItems = maxItems."""
    with OpenAIServer(Script(answer)) as server:
        await agents_for(server).classify([make_item(n) for n in range(3)], CATEGORIES)
        body = server.completions[0]
    schema = body["response_format"]["json_schema"]["schema"]
    results = schema["properties"]["results"]
    fields = results["items"]["properties"]
    expected: tuple[Any, ...] = (3, 3, ["1", "2", "3"], IDS, IDS, 1, 5, 0, 1)
    assert expected == (
        results["minItems"],
        results["maxItems"],
        fields["item_id"]["enum"],
        fields["primary"]["enum"],
        fields["secondary"]["items"]["enum"],
        fields["relevance"]["minimum"],
        fields["relevance"]["maximum"],
        fields["confidence"]["minimum"],
        fields["confidence"]["maximum"],
    )
    assert body["response_format"]["json_schema"]["strict"] is True


async def test_what_the_repair_leaves_wrong_is_asked_alone() -> None:
    """Still unknown after the repair, item 2 gets a call of its own (3 calls) and is named as retried."""
    still = lambda ids: answer(ids, primary={"2": "llm"})  # noqa: E731
    with OpenAIServer(Script(still, still, answer)) as server:
        agents = agents_for(server)
        items = [make_item(n) for n in range(4)]
        results = await agents.classify(items, CATEGORIES)
        bodies = server.completions
    expected = [["1", "2", "3", "4"], ["1", "2", "3", "4"], ["1"]]
    assert expected == [asked(b) for b in bodies]
    assert all(isinstance(r, Classification) for r in results)
    expected_named = [(items[1].id, "retried")]
    assert expected_named == [(i.item_id, i.kind) for i in agents.usage.incidents]
    expected_schema = ["1"]
    schema = bodies[2]["response_format"]["json_schema"]["schema"]
    assert expected_schema == schema["properties"]["results"]["items"]["properties"]["item_id"]["enum"]


async def test_an_item_still_wrong_alone_is_held_back_with_the_failure() -> None:
    """Wrong in the batch, its repair and alone: an AgentError saying each; the others are kept."""
    bad = lambda ids: answer(ids, primary={"1": "llm"} if len(ids) == 1 else {"2": "llm"})  # noqa: E731
    with OpenAIServer(Script(bad, bad, bad)) as server:
        agents = agents_for(server)
        results = await agents.classify([make_item(n) for n in range(3)], CATEGORIES)
    assert [Classification, AgentError, Classification] == [type(r) for r in results]
    assert "asked alone: category 'llm' unknown" in str(results[1])
    incidents = agents.usage.incidents
    expected = [("arxiv:2611.00001", "held_back")]
    assert expected == [(i.item_id, i.kind) for i in incidents]
    expected_detail = (
        "category 'llm' unknown; after the repair request: category 'llm' unknown; "
        "asked alone: category 'llm' unknown"
    )
    assert expected_detail == incidents[0].detail
