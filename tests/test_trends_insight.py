"""The trends 考察: written from the counts and entries, checked in code and by the judge, cached."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from digestbot.agents.llm_agents import LlmAgents
from digestbot.agents.llm_trends import insight_writer
from digestbot.agents.offline import OfflineAgents
from digestbot.domain import Trends
from digestbot.graph.state import Verdict
from digestbot.settings import AppConfig, JudgeConfig, LLMConfig, Secrets, Settings, load_categories
from digestbot.testing.scripted_chat import ScriptedChat
from digestbot.trends_insight import insight_material, insight_problems, renumber, write_insight
from support.sample_digest import SAMPLE_TRENDS, trends_digest

ROOT = Path(__file__).resolve().parents[1]
GOOD = "RAGの採用が前4週平均の2.5件から5件に増えた。長文脈での検索と推論[3]や社内検索の事例[1]が目立った。"
PASS = Verdict(relevance=3, significance=3, faithfulness=5, japanese=5, rationale="一覧どおり。")
FAIL = Verdict(relevance=3, significance=3, faithfulness=2, japanese=5, feedback="「3倍」は一覧にない。")
JUDGE = JudgeConfig()


def settings() -> Settings:
    app = AppConfig(llm=LLMConfig(model="openai:gpt-4o-mini", requests_per_second=500.0))
    secrets = Secrets(_env_file=None, digestbot_llm_api_key=SecretStr("sk-test"))  # type: ignore[call-arg]
    return Settings(
        config_dir=ROOT / "config",
        app=app,
        categories=load_categories(ROOT / "config" / "categories.toml"),
        secrets=secrets,
    )


class MemoryCache:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        return self.values.get(key)

    def put(self, key: str, value: Any) -> None:
        self.values[key] = value


async def run(
    model: ScriptedChat, trends: Trends = SAMPLE_TRENDS, cache: MemoryCache | None = None
) -> tuple[Trends, str]:
    agents = LlmAgents(settings(), chat_model=model)
    write = insight_writer(agents)
    assert write is not None
    return await write_insight(
        trends_digest(),
        trends,
        write=write,
        judge=agents.judge,
        judge_config=JUDGE,
        max_chars=200,
        min_japanese=0.3,
        fingerprint=agents.fingerprint("trends"),
        cache=cache,
    )


def test_material_numbers_the_shown_entries_best_first() -> None:
    """Entries are numbered by rank; the counts carry the change as an arrow."""
    variables, ids = insight_material(trends_digest(), SAMPLE_TRENDS, 200)
    assert ["arxiv:2611.01234", "qiita:0123456789abcdef0123", "arxiv:2611.04321"] == ids[:3]
    assert {"name": "RAG/ロングコンテキスト", "count": 5, "baseline": 2.5, "change": "↑2.5"} == variables[
        "counts"
    ][0]


def test_problems_need_a_citation_within_the_list() -> None:
    """No [n], or a number beyond the list, is a problem the rewrite is told about."""
    assert ["代表する記事を少なくとも1件、[3] のように番号で示してください。"] == insight_problems(
        "RAGが増えた。", 5, 200, 0.3
    )
    assert ["一覧にない番号 [9] を使わないでください（1〜5）。"] == insight_problems(
        "RAGが増えた[9]。", 5, 200, 0.3
    )
    assert [] == insight_problems(GOOD, 5, 200, 0.3)


def test_renumber_orders_citations_by_first_mention() -> None:
    """[3] then [1] become [1] and [2], and the cited ids follow that order."""
    text, cited = renumber("A[3]とB[1]、再びA[3]。", ["x", "y", "z"])
    assert ("A[1]とB[2]、再びA[1]。", ("z", "x")) == (text, cited)


async def test_an_accepted_insight_is_added_with_its_citations() -> None:
    """The agent sees the counts and entries; the judge passes it; citations map to item ids."""
    model = ScriptedChat(replies={"Blurb": [{"blurb": GOOD}], "Verdict": [PASS]})
    trends, note = await run(model)
    expected = (
        "RAGの採用が前4週平均の2.5件から5件に増えた。長文脈での検索と推論[1]や社内検索の事例[2]が目立った。"
    )
    assert (expected, ("arxiv:2611.04321", "arxiv:2611.01234"), "") == (trends.insight, trends.cited, note)
    prompt = str(model.received[0][-1].content)
    assert "- RAG/ロングコンテキスト: 今週 5件、前4週平均 2.5件（↑2.5）" in prompt
    assert "[1] (RAG/ロングコンテキスト / arxiv) LongRAG" in prompt
    judged = str(model.received[1][-1].content)
    assert ("今週の掲載記事:" in judged, f"<blurb>{GOOD}</blurb>" in judged) == (True, True)


async def test_a_text_breaking_the_rules_is_rewritten_with_the_reason() -> None:
    """A 考察 without citations is sent back once with the problem, then accepted."""
    model = ScriptedChat(replies={"Blurb": [{"blurb": "RAGが増えた。"}, {"blurb": GOOD}], "Verdict": [PASS]})
    trends, _ = await run(model)
    assert trends.insight.startswith("RAGの採用")
    assert "<feedback>代表する記事を少なくとも1件" in str(model.received[1][-1].content)


async def test_the_judges_rejection_leaves_counts_and_terms_only() -> None:
    """Rejected twice (max_revisions = 1): no 考察, the judge's reason for the run report."""
    model = ScriptedChat(replies={"Blurb": [{"blurb": GOOD}] * 2, "Verdict": [FAIL, FAIL]})
    trends, note = await run(model)
    assert ("", SAMPLE_TRENDS.categories, "no 考察: the judge did not accept it (faithfulness 2 < 4)") == (
        trends.insight,
        trends.categories,
        note,
    )
    assert "<feedback>「3倍」は一覧にない。</feedback>" in str(model.received[2][-1].content)


async def test_without_an_earlier_week_no_call_is_made() -> None:
    """A first week has nothing to compare: no 考察 and no model call."""
    model = ScriptedChat()
    trends, note = await run(model, replace(SAMPLE_TRENDS, weeks_compared=0, insight="", cited=()))
    assert ("", [], "no 考察: no earlier weekly digest to compare with yet") == (
        trends.insight,
        model.schemas,
        note,
    )


async def test_the_accepted_insight_is_cached() -> None:
    """The same material again: the cached 考察, no model call."""
    cache = MemoryCache()
    await run(ScriptedChat(replies={"Blurb": [{"blurb": GOOD}], "Verdict": [PASS]}), cache=cache)
    again = ScriptedChat()
    trends, _ = await run(again, cache=cache)
    assert (True, []) == (trends.insight.startswith("RAGの採用"), again.schemas)


async def test_a_model_failure_is_reported_not_raised() -> None:
    """An unusable answer twice: no 考察, a one-line reason."""
    model = ScriptedChat(replies={"Blurb": ["not json", "still not json"]})
    trends, note = await run(model)
    assert ("", True) == (trends.insight, note.startswith("no 考察: unusable model output"))


def test_offline_agents_write_no_insight() -> None:
    """Offline mode: counts and terms only."""
    assert insight_writer(OfflineAgents(settings())) is None
