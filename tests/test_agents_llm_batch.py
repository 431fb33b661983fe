"""Summaries and verdicts several items per call: a bad item is repaired alone, never the batch redone."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from tests.test_agents_llm_agents import CATEGORIES, agents_with, item_ids, make_item

from digestbot.agents.base import AgentError
from digestbot.graph.state import BlurbBatch, VerdictBatch
from digestbot.settings import Category
from digestbot.testing.scripted_chat import ScriptedChat

GOOD = "HtmlRAGという検索拡張の手法を提案。"
SCORES = {
    "relevance": 4,
    "significance": 4,
    "faithfulness": 5,
    "japanese": 5,
    "rationale": "良い",
    "feedback": "",
}
CATEGORY: Category = CATEGORIES[0]


def _blurbs(bad: dict[str, str]) -> Any:
    """A BlurbBatch answer for every item id received; `bad` replaces some blurbs."""

    def reply(messages: list[BaseMessage]) -> BlurbBatch:
        ids = item_ids(messages)
        return BlurbBatch.model_validate(
            {"results": [{"item_id": n, "blurb": bad.get(n, GOOD)} for n in ids]}
        )

    return reply


def _verdicts(bad: dict[str, int], missing: tuple[str, ...] = ()) -> Any:
    def reply(messages: list[BaseMessage]) -> VerdictBatch:
        ids = [n for n in item_ids(messages) if n not in missing]
        rows = [{"item_id": n, **SCORES, "faithfulness": bad.get(n, 5)} for n in ids]
        return VerdictBatch.model_validate({"results": rows})

    return reply


async def test_one_malformed_blurb_in_a_batch_gets_one_repair_call_for_that_item_only() -> None:
    """Three items in one call; item 2's blurb breaks the length rule: one more call, about item 2 alone."""
    chat = ScriptedChat(
        replies={"BlurbBatch": [_blurbs({"2": "長すぎる紹介文。" * 30})], "Blurb": [{"blurb": GOOD}]}
    )
    agents = agents_with(chat)
    items = [make_item(n) for n in range(1, 4)]
    blurbs = await agents.summarize_many(items, max_chars=120)
    assert [GOOD, GOOD, GOOD] == blurbs
    assert ["BlurbBatch", "Blurb"] == chat.schemas
    assert (["1", "2", "3"], [items[1].id]) == (item_ids(chat.received[0]), item_ids(chat.received[1]))
    assert "前回の紹介文" in chat.received[1][-1].text  # the repair quotes the bad blurb
    usage = agents.usage.per_agent["summarizer"]
    assert (2, 1, 0) == (usage.calls, usage.repairs, usage.failures)
    assert [(items[1].id, "repaired")] == [(i.item_id, i.kind) for i in agents.usage.incidents]


async def test_a_blurb_still_bad_after_its_repair_holds_back_that_item_only() -> None:
    """The repair fails too: that item is an AgentError, its batch-mates keep their blurbs."""
    chat = ScriptedChat(
        replies={"BlurbBatch": [_blurbs({"3": "English only."})], "Blurb": [{"blurb": "Still English."}]}
    )
    items = [make_item(n) for n in range(1, 4)]
    blurbs = await agents_with(chat).summarize_many(items, max_chars=120)
    assert [GOOD, GOOD] == blurbs[:2]
    assert isinstance(blurbs[2], AgentError)
    assert ["BlurbBatch", "Blurb"] == chat.schemas


async def test_one_out_of_range_score_in_a_batch_gets_one_repair_call_for_that_item_only() -> None:
    """Item 1's faithfulness is 9: one Verdict repair for item 1 alone; items 2 and 3 as answered."""
    repaired = {**SCORES, "faithfulness": 4}
    chat = ScriptedChat(replies={"VerdictBatch": [_verdicts({"1": 9})], "Verdict": [repaired]})
    agents = agents_with(chat)
    items = [make_item(n) for n in range(1, 4)]
    verdicts = await agents.judge_many([(item, GOOD, CATEGORY) for item in items])
    assert [4, 5, 5] == [v.faithfulness for v in verdicts if not isinstance(v, AgentError)]
    assert ["VerdictBatch", "Verdict"] == chat.schemas
    assert [items[0].id] == item_ids(chat.received[1])
    assert "faithfulness 9 is outside 1..5" in chat.received[1][-1].text
    assert (2, 1) == (agents.usage.per_agent["judge"].calls, agents.usage.per_agent["judge"].repairs)


async def test_an_item_left_out_of_the_batch_answer_is_asked_alone() -> None:
    """The batch answer misses item 3: it alone is asked again; the others are not."""
    chat = ScriptedChat(replies={"VerdictBatch": [_verdicts({}, missing=("3",))], "Verdict": [SCORES]})
    agents = agents_with(chat)
    items = [make_item(n) for n in range(1, 4)]
    verdicts = await agents.judge_many([(item, GOOD, CATEGORY) for item in items])
    assert 3 == sum(not isinstance(v, AgentError) for v in verdicts)
    assert (["VerdictBatch", "Verdict"], [items[2].id]) == (chat.schemas, item_ids(chat.received[1]))
    assert 1 == agents.usage.per_agent["judge"].retries


@pytest.mark.parametrize("count", [8, 9])
async def test_batch_size_from_the_agent_file(count: int) -> None:
    """summarizer.md says 8 per call: 8 items take one call, 9 take two (8 + the last one alone)."""
    chat = ScriptedChat(replies={"BlurbBatch": [_blurbs({})], "Blurb": [{"blurb": GOOD}]})
    await agents_with(chat).summarize_many([make_item(n) for n in range(count)], max_chars=120)
    assert {8: ["BlurbBatch"], 9: ["BlurbBatch", "Blurb"]}[count] == chat.schemas
