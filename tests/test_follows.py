"""Follow topics: command words → topics, normalized and bounded keyword matching, who an item is for."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from digestbot.config_schema import FollowConfig
from digestbot.domain import DigestEntry, Scores
from digestbot.follows import (
    Follower,
    Member,
    Problem,
    Topic,
    audience,
    keyword_matches,
    matched_topics,
    normalize,
    parse_request,
    valid_user_id,
)
from digestbot.settings import Category, load_settings
from digestbot.watch import fold
from support.sample_digest import make_item, representative_digest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = FollowConfig()


@pytest.fixture(scope="module")
def categories() -> tuple[Category, ...]:
    return load_settings(ROOT / "config", {}, env_file=ROOT / "no.env").categories


def test_words_become_categories_and_normalized_keywords(categories: tuple[Category, ...]) -> None:
    """Ids and names are categories; the rest keywords (NFKC, case-folded, quoted phrases kept)."""
    request = parse_request('rag 推論系 ＬＬＭ  "Multi  Agent" 「知識 蒸留」 kw:rag --dm', categories, CONFIG)
    assert (
        Topic("category", "rag"),
        Topic("category", "reasoning"),
        Topic("keyword", "llm"),
        Topic("keyword", "multi agent"),
        Topic("keyword", "知識 蒸留"),
        Topic("keyword", "rag"),
    ) == request.topics
    assert request.dm is True
    assert () == request.problems


def test_unknown_category_short_and_long_keywords_are_problems(categories: tuple[Category, ...]) -> None:
    """`category:` must name a category; keywords have 2..max_keyword_chars characters; options are known."""
    request = parse_request("category:nope x " + "a" * 41 + " --loud", categories, CONFIG)
    assert (
        Problem("unknown_category", "category:nope"),
        Problem("too_short", "x"),
        Problem("too_long", "a" * 41),
        Problem("unknown_option", "--loud"),
    ) == request.problems


@pytest.mark.parametrize(
    ("keyword", "text", "hit"),
    [
        ("rag", "graph rag pipelines", True),
        ("rag", "storage and leverage", False),  # bounded: not inside a Latin word
        ("agent", "multi-agents debate", True),  # plural allowed, `-` is a boundary
        ("multi agent", "a multi-agent system", True),
        ("multi agent", "multiagent", True),  # the watchlist's matcher: words may be written together
        ("gpt-4", "gpt-4o beats", False),
        ("gpt-4", "gpt 4 and gpt-4.", True),
        ("蒸留", "知識蒸留による圧縮", True),  # Japanese edges are not bounded (no spaces between words)
        ("エージェント", "マルチエージェント協調", False),  # katakana never inside katakana
        ("エージェント", "エージェント協調の研究", True),
        ("量子化", "量子の話", False),
    ],
)
def test_keyword_matching_is_bounded(keyword: str, text: str, hit: bool) -> None:
    """Latin, digit and katakana edges need a neighbour of another script; kanji edges match inside words."""
    assert hit == keyword_matches(normalize(keyword), fold(text))


def test_items_match_on_title_tags_blurb_and_categories() -> None:
    """Full-width title text matches a keyword; a secondary category matches a category follow."""
    item = make_item("arxiv:2611.00001", "ＲＡＧ for Long Context")
    entry = DigestEntry(item, "rag", "長文脈の検索拡張。", Scores(4, 4, 4, 4), secondary=("eval",))
    topics = (
        Topic("keyword", "rag"),
        Topic("category", "eval"),
        Topic("keyword", "蒸留"),
        Topic("category", "rl"),
    )
    assert topics[:2] == matched_topics(entry, topics)


def test_audience_uses_validated_ids_only() -> None:
    """A member whose stored id is not `^[UW][A-Z0-9]+$` is never an audience (no mention to build)."""
    digest = representative_digest()
    first = digest.sections[0].entries[0]
    topic = Topic("category", first.category)
    members = [
        Member("U0B", "b", False, (topic,)),
        Member("<!channel>", "x", False, (topic,)),
        Member("U0A", "a", False, (topic,)),
        Member("U0C", "c", False, ()),
    ]
    found = audience(digest, members)
    assert (Follower("U0A", "a"), Follower("U0B", "b")) == found[first.item.id]
    assert not valid_user_id("u0abc")
    assert not valid_user_id("U0A|x")
    assert valid_user_id("W0ABC123")


def test_no_follow_matches_nothing() -> None:
    """An empty digest or members without topics: nobody is named."""
    digest = representative_digest()
    empty = replace(digest, sections=())
    assert {} == audience(empty, [Member("U0A", "a", False, (Topic("keyword", "llm"),))])
