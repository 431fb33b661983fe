"""Keyword prefilter: per-rule drop counts, tags, pass-through, the graph node (graph/nodes/prefilter.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from langgraph.runtime import Runtime

from digestbot.agents.offline import OfflineAgents
from digestbot.domain import Item, SourceName
from digestbot.graph.context import RunContext
from digestbot.graph.nodes.prefilter import EXCLUDED_TITLE, NO_INTEREST, NO_KEYWORD, prefilter, prefilter_node
from digestbot.settings import Category, PrefilterConfig, load_settings

CATS = (
    Category(
        id="rag", name="RAG", description="retrieval", keywords_en=("retrieval", "RAG"), keywords_ja=("検索",)
    ),
    Category(id="agents", name="エージェント", description="agents", keywords_en=("agent", "tool use")),
)
CONFIG = PrefilterConfig(interests=("LLM", "language model"), exclude=("Quantum",), require_interest=False)

WHEN = datetime(2025, 11, 17, tzinfo=UTC)


def item(item_id: str, title: str, text: str = "", tags: tuple[str, ...] = ()) -> Item:
    source = SourceName(item_id.split(":", 1)[0])
    return Item(id=item_id, source=source, url=f"https://example.org/{item_id}", title=title, text=text,
                published=WHEN, updated=WHEN, tags=tags)  # fmt: skip


def test_items_without_topic_terms_are_dropped_as_no_keyword() -> None:
    """An item with neither category keyword nor interest is dropped as no_keyword; the rest keep order."""
    items = [
        item("arxiv:2511.00001", "Retrieval for LLMs", text="We study retrieval."),
        item("arxiv:2511.00002", "Protein folding", text="We fold proteins."),
        item("arxiv:2511.00003", "Tool use", text="An agent uses tools."),
    ]
    result = prefilter(items, CATS, CONFIG)
    expected = (["arxiv:2511.00001", "arxiv:2511.00003"], {NO_KEYWORD: 1})
    assert expected == ([i.id for i in result.kept], result.dropped)


def test_excluded_title_terms_drop_the_item_first() -> None:
    """A title containing an exclude term is dropped as excluded_title even if it has keywords."""
    items = [item("arxiv:2511.00001", "Quantum retrieval for LLMs", text="RAG.")]
    expected = ([], {EXCLUDED_TITLE: 1})
    assert expected == (prefilter(items, CATS, CONFIG).kept, prefilter(items, CATS, CONFIG).dropped)


def test_exclude_terms_match_whole_words_only() -> None:
    """An exclude term does not match inside a longer word ('Quantum' is not in 'Quantumlike')."""
    items = [item("arxiv:2511.00001", "Quantumlike retrieval", text="RAG.")]
    expected = {}
    assert expected == prefilter(items, CATS, CONFIG).dropped


def test_min_keyword_hits_counts_distinct_terms() -> None:
    """With min_keyword_hits = 2, one term repeated is not enough; two different terms are."""
    config = CONFIG.model_copy(update={"min_keyword_hits": 2})
    items = [
        item("arxiv:2511.00001", "Retrieval", text="retrieval retrieval retrieval"),
        item("arxiv:2511.00002", "Retrieval", text="An LLM does retrieval."),
    ]
    result = prefilter(items, CATS, config)
    expected = (["arxiv:2511.00002"], {NO_KEYWORD: 1})
    assert expected == ([i.id for i in result.kept], result.dropped)


def test_zero_min_keyword_hits_keeps_everything_not_excluded() -> None:
    """min_keyword_hits = 0 turns the keyword rule off; the exclude rule still applies."""
    config = CONFIG.model_copy(update={"min_keyword_hits": 0})
    items = [
        item("arxiv:2511.00001", "Protein folding"),
        item("arxiv:2511.00002", "Quantum"),
    ]
    result = prefilter(items, CATS, config)
    expected = (["arxiv:2511.00001"], {EXCLUDED_TITLE: 1})
    assert expected == ([i.id for i in result.kept], result.dropped)


def test_feed_tags_count_as_text() -> None:
    """A Qiita article from the LLM tag passes on its tag; one from a broad tag needs a term in its text."""
    items = [
        item("qiita:aaaaaaaaaaaaaaaaaaaa", "Pythonで試した", text="試しました。", tags=("LLM",)),
        item("qiita:bbbbbbbbbbbbbbbbbbbb", "Pythonで試した", text="試しました。", tags=("機械学習",)),
        item("zenn:c", "社内文書を検索する", text="やってみた。", tags=("機械学習",)),
    ]
    result = prefilter(items, CATS, CONFIG)
    expected = (["qiita:aaaaaaaaaaaaaaaaaaaa", "zenn:c"], {NO_KEYWORD: 1})
    assert expected == ([i.id for i in result.kept], result.dropped)


def test_items_without_an_interest_are_dropped_as_no_interest() -> None:
    """With require_interest, category keywords alone are not enough: the item must be about LLMs."""
    config = CONFIG.model_copy(update={"require_interest": True})
    items = [
        item("arxiv:2511.00001", "Retrieval for image search", text="A retrieval index for photos."),
        item("arxiv:2511.00002", "Retrieval for LLMs", text="We study retrieval."),
        item("qiita:aaaaaaaaaaaaaaaaaaaa", "検索を試した", text="やってみた。", tags=("LLM",)),
    ]
    result = prefilter(items, CATS, config)
    expected = (["arxiv:2511.00002", "qiita:aaaaaaaaaaaaaaaaaaaa"], {NO_INTEREST: 1})
    assert expected == ([i.id for i in result.kept], result.dropped)


def test_disabled_prefilter_passes_everything_through() -> None:
    """enabled = false keeps every item and reports nothing dropped."""
    items = [item("arxiv:2511.00001", "Quantum protein folding")]
    result = prefilter(items, CATS, CONFIG.model_copy(update={"enabled": False}))
    expected = (items, {})
    assert expected == (result.kept, result.dropped)


def test_counts_add_up_on_three_thousand_items() -> None:
    """On 3,000 items every item is either kept or counted under exactly one rule."""
    titles = ["RAG pipelines", "Protein folding", "Quantum agents"]
    items = [item(f"arxiv:2511.{n:05d}", titles[n % 3], text="Abstract " * 150) for n in range(3000)]
    result = prefilter(items, CATS, CONFIG)
    expected = (1000, {NO_KEYWORD: 1000, EXCLUDED_TITLE: 1000})
    assert expected == (len(result.kept), result.dropped)


@pytest.fixture
def context() -> RunContext:
    settings = load_settings(Path(__file__).resolve().parents[1] / "config", environ={})
    return RunContext(settings=settings, agents=OfflineAgents(settings), categories=settings.categories)


def test_node_writes_candidates_and_drop_counts(context: RunContext) -> None:
    """The node returns candidates, counts per rule, and each dropped item named with its rule and reason."""
    kept = item("arxiv:2511.00001", "Retrieval-augmented generation")
    dropped = item("arxiv:2511.00002", "Sourdough")
    update = prefilter_node({"items": [kept, dropped]}, Runtime(context=context))
    named = {"item_id": dropped.id, "stage": "prefilter", "status": "dropped"}
    expected = {
        "candidates": [kept],
        "prefilter_dropped": {NO_KEYWORD: 1},
        "prefiltered": [{**named, "detail": "no_keyword: 0 of the 1 topic terms needed"}],
    }
    assert expected == update


def test_each_rule_names_the_item_it_dropped_and_why() -> None:
    """Excluded title and no interest say which term and which rule; kept items are not named."""
    config = PrefilterConfig(exclude=["sourdough"], interests=["llm"], min_keyword_hits=0)
    items = [
        item("arxiv:2511.00001", "Sourdough bread with LLM"),
        item("arxiv:2511.00002", "Graph coloring"),
        item("arxiv:2511.00003", "LLM agents"),
    ]
    result = prefilter(items, CATS, config)
    expected = [
        ("arxiv:2511.00001", "excluded_title: the title contains the excluded term 'sourdough'"),
        ("arxiv:2511.00002", "no_interest: none of the team's interests (pipeline.prefilter.interests)"),
    ]
    assert expected == result.dropped_items
