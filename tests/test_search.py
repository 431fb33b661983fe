"""Archive search over posted digests, on SQLite (FTS5 trigram + LIKE) and PostgreSQL (tsvector + ILIKE)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from digestbot.digest_json import digest_to_dict
from digestbot.domain import Digest, DigestSection, SourceCount, SourceName, Window
from digestbot.search import search, sync_index, terms_of
from digestbot.store.digests import mark_posted, record_intent
from digestbot.store.schema import open_engine
from digestbot.trends import WEEK
from support.sample_digest import WINDOW, make_entry, make_item

ENTRIES = {
    3: [
        (
            "arxiv:2610.00001",
            "GraphRAG: community summaries for global questions",
            "グラフ構造で要約を束ねるRAG手法。",
        ),
        ("zenn:rag-eval", "RAGの評価を自動化した話", "RAGASで回答の忠実さを測る手順を紹介。"),
    ],
    1: [
        (
            "arxiv:2611.00002",
            "Tool-using agents with verifiers",
            "検証器付きのエージェントで推論精度が向上。",
        ),
        (
            "qiita:0123456789abcdef0000",
            "Storage tiering for vector databases",
            "ベクトルDBの保存階層を解説。",
        ),
    ],
}


def week_digest(back: int) -> Digest:
    window = Window(WINDOW.start - back * WEEK, WINDOW.end - back * WEEK)
    entries = tuple(
        make_entry(
            make_item(i, title, source=SourceName(i.split(":")[0])), "rag" if back == 3 else "agents", blurb
        )
        for i, title, blurb in ENTRIES[back]
    )
    category, name = ("rag", "RAG/ロングコンテキスト") if back == 3 else ("agents", "エージェント")
    section = DigestSection(category, name, "🔎", entries, total=len(entries))
    return Digest(
        window, "📚 LLMリサーチダイジェスト", (section,), {"arxiv": SourceCount(2, 2)}, False, window.end
    )


def post(engine: Engine, back: int, *, channel: str = "#llm-digest", posted: bool = True) -> str:
    digest = week_digest(back)
    period = f"{digest.window.start:%Y-%m-%d}"
    record_intent(engine, channel=channel, period=period, digest=digest_to_dict(digest), item_ids=[])
    if posted:
        link = f"https://slack.example/archives/C1/p{back}"
        mark_posted(engine, channel, period, channel_id="C1", ts=[f"{back}.0"], permalink=link)
    return period


@pytest.fixture
def engine(store_url: str) -> Engine:
    engine = open_engine(store_url)
    post(engine, 3)
    post(engine, 1)
    return engine


def ids(engine: Engine, query: str) -> list[str]:
    return [hit.item_id for hit in search(engine, query)]


def test_finds_an_item_from_an_earlier_week_with_a_link_to_its_digest(engine: Engine) -> None:
    """An English word finds the item three weeks back, with that digest's period and permalink."""
    hits = search(engine, "graphrag")
    assert ["arxiv:2610.00001"] == [h.item_id for h in hits]
    first = hits[0].appearances[0]
    assert ((WINDOW.start - 3 * WEEK).strftime("%Y-%m-%d"), "https://slack.example/archives/C1/p3") == (
        first.period,
        first.permalink,
    )


def test_japanese_terms_match_inside_text_long_and_short(engine: Engine) -> None:
    """A 3+ character term (FTS5 trigram on SQLite) and a 2-character one (LIKE) both match."""
    assert (["zenn:rag-eval"], ["arxiv:2611.00002"]) == (ids(engine, "忠実さ"), ids(engine, "推論"))


def test_english_words_match_at_word_starts_only(engine: Engine) -> None:
    """`rag` finds RAG items but not "Storage"; `agent` finds "agents"."""
    assert (["zenn:rag-eval", "arxiv:2610.00001"], ["arxiv:2611.00002"]) == (
        sorted(ids(engine, "rag"), reverse=True),
        ids(engine, "agent"),
    )


def test_every_word_must_match_and_case_does_not_matter(engine: Engine) -> None:
    """Words are ANDed; full-width and upper case fold."""
    assert (["zenn:rag-eval"], []) == (ids(engine, "ＲＡＧ 評価"), ids(engine, "rag 推論"))


def test_newest_digest_first(engine: Engine) -> None:
    """Hits from last week come before hits from three weeks ago."""
    assert ["qiita:0123456789abcdef0000", "arxiv:2610.00001"] == ids(engine, "for")


def test_an_item_in_two_digests_is_one_hit_listing_both(engine: Engine) -> None:
    """The same week posted to a second channel adds an appearance, not a hit."""
    post(engine, 1, channel="#random")
    hits = search(engine, "verifiers")
    assert [("#llm-digest", "#random")] == [tuple(sorted(a.channel for a in h.appearances)) for h in hits]


def test_unposted_digests_are_not_searched_and_reindexing_is_incremental(engine: Engine) -> None:
    """Only posted digests are indexed; a second sync indexes nothing new."""
    sync_index(engine)
    post(engine, 3, channel="#unposted", posted=False)
    assert (0, 1) == (sync_index(engine), len(search(engine, "graphrag")[0].appearances))


def test_a_forced_update_reindexes_that_digest(engine: Engine) -> None:
    """A digest updated after indexing is indexed again."""
    sync_index(engine)
    period = post(engine, 1)
    mark_posted(
        engine,
        "#llm-digest",
        period,
        channel_id="C1",
        ts=["1.0"],
        permalink=None,
        now=WINDOW.end + timedelta(days=400),
    )
    assert 1 == sync_index(engine)


def test_query_terms_are_folded_and_capped() -> None:
    """NFKC, lower case, no repeats, at most eight."""
    assert ["rag", "評価"] == terms_of(" ＲＡＧ 評価 rag ")
    assert 8 == len(terms_of(" ".join(f"w{n}" for n in range(20))))
    assert [] == terms_of("   ")


def test_like_wildcards_in_the_query_are_literal(engine: Engine) -> None:
    """`%` and `_` are searched as characters, not wildcards."""
    assert ([], []) == (ids(engine, "%"), ids(engine, "_"))
