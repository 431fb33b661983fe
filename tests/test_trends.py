"""Weekly trends from the digest archive: counts against earlier weeks, rising terms, the chart table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from digestbot.digest_json import digest_to_dict
from digestbot.domain import CategoryTrend, Digest, DigestSection, RisingTerm, SourceCount, Window
from digestbot.settings import Category
from digestbot.store.digests import mark_posted, record_intent
from digestbot.store.schema import open_engine
from digestbot.trends import (
    WEEK,
    WeekSample,
    build_trends,
    describe,
    is_weekly,
    item_terms,
    latest_weekly_window,
    rising_terms,
    trends_for,
    weekly_counts,
    weekly_history,
)
from support.sample_digest import WINDOW, make_entry, make_item

CATEGORIES = (
    Category(id="rag", name="RAG", emoji="🔎", description="検索拡張"),
    Category(id="agents", name="エージェント", emoji="🤖", description="エージェント"),
    Category(id="efficiency", name="計算量削減", emoji="⚡", description="効率化"),
)


def week_digest(back: int, titles: dict[str, list[str]], *, days: int = 7) -> Digest:
    """A digest `back` weeks before the sample window, one entry per title, `total` = entries."""
    window = Window(WINDOW.start - back * WEEK, WINDOW.start - back * WEEK + timedelta(days=days))
    sections = []
    for category, names in titles.items():
        entries = tuple(
            make_entry(make_item(f"arxiv:26{back:02d}.{category[:2]}{n:03d}", title), category, "要約。")
            for n, title in enumerate(names)
        )
        sections.append(DigestSection(category, category, "📄", entries, total=len(entries)))
    return Digest(
        window, "📚 LLMリサーチダイジェスト", tuple(sections), {"arxiv": SourceCount(9, 9)}, False, window.end
    )


def archive(engine: Engine, digest: Digest, *, channel: str = "#llm-digest", posted: bool = True) -> None:
    """Store a digest in digest_posts as delivery would."""
    period = f"{digest.window.start:%Y-%m-%d}..{digest.window.end:%Y-%m-%d}"
    record_intent(engine, channel=channel, period=period, digest=digest_to_dict(digest), item_ids=[])
    if posted:
        mark_posted(engine, channel, period, channel_id="C0DIGEST01", ts=["1.0"], permalink=None)


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_engine(store_url)


def test_item_terms_take_tags_words_and_japanese_runs_but_not_stopwords() -> None:
    """Tags (not arXiv categories), English words, acronyms, katakana and kanji runs; no stopwords."""
    found = item_terms("Speculative Decoding for MoE models: 投機的デコーディングの検証", ("cs.CL", "vLLM"))
    expected = {"vllm", "speculative", "decoding", "moe", "デコーディング", "投機的"}
    assert expected == set(found)
    assert "MoE" == found["moe"]


def test_interests_are_never_terms() -> None:
    """The team's core interests appear everywhere, so they are ignored."""
    assert "rag" not in item_terms("RAG for agents", (), frozenset({"rag"}))


def test_is_weekly_accepts_six_to_eight_days() -> None:
    """A 7-day window is a weekly sample; a 3-day on-demand digest is not."""
    assert [True, False] == [
        is_weekly(WINDOW),
        is_weekly(Window(WINDOW.start, WINDOW.start + timedelta(days=3))),
    ]


def test_counts_compare_with_the_mean_of_the_previous_four_weeks(engine: Engine) -> None:
    """This week's kept count per category against the earlier weeks' mean, in config order."""
    for back, rag in [(1, 2), (2, 4), (3, 2), (4, 4), (5, 40)]:
        archive(engine, week_digest(back, {"rag": ["Retrieval study"] * rag, "agents": ["Agent tools"]}))
    current = week_digest(0, {"rag": ["Retrieval study"] * 6, "efficiency": ["Quantization"]})
    trends = trends_for(current, engine, CATEGORIES)
    assert trends is not None
    expected = (
        CategoryTrend("rag", "RAG", "🔎", 6, 3.0),
        CategoryTrend("agents", "エージェント", "🤖", 0, 1.0),
        CategoryTrend("efficiency", "計算量削減", "⚡", 1, 0.0),
    )
    assert (4, expected) == (trends.weeks_compared, trends.categories)


def test_missing_weeks_are_no_data_not_zero(engine: Engine) -> None:
    """Only weeks that have a digest count toward the mean."""
    archive(engine, week_digest(2, {"rag": ["Retrieval study"] * 4}))
    trends = trends_for(week_digest(0, {"rag": ["Retrieval study"] * 5}), engine, CATEGORIES)
    assert trends is not None
    assert (1, 4.0) == (trends.weeks_compared, trends.categories[0].baseline)


def test_first_week_has_counts_without_comparison(engine: Engine) -> None:
    """With an empty archive the section still shows this week's counts."""
    trends = trends_for(week_digest(0, {"rag": ["A", "B"]}), engine, CATEGORIES)
    assert trends is not None
    assert (0, (CategoryTrend("rag", "RAG", "🔎", 2, None),)) == (trends.weeks_compared, trends.categories)


def test_on_demand_digests_get_no_trends_and_are_not_samples(engine: Engine) -> None:
    """A 3-day digest has no trends section, and an archived one does not count as a week."""
    archive(engine, week_digest(1, {"rag": ["A"] * 9}, days=3))
    assert trends_for(week_digest(0, {"rag": ["A"]}, days=3), engine, CATEGORIES) is None
    trends = trends_for(week_digest(0, {"rag": ["A"]}), engine, CATEGORIES)
    assert trends is not None
    assert 0 == trends.weeks_compared


def test_the_posted_digest_wins_over_an_unposted_attempt_in_the_same_week(engine: Engine) -> None:
    """Two channels' digests for one week: the posted one is the sample."""
    archive(engine, week_digest(1, {"rag": ["A"] * 3}), channel="#a")
    archive(engine, week_digest(1, {"rag": ["A"] * 8}), channel="#b", posted=False)
    history = weekly_history(engine, WINDOW, 1)
    assert history[1] is not None
    assert 3 == history[1].counts["rag"]


def test_rising_terms_need_two_items_and_a_clear_rise() -> None:
    """A term rises when it is in 2+ items now and at least 1.5× its mean + 1; best ratio first."""
    now = WeekSample(
        WINDOW,
        {},
        {"moe": 4, "agent": 3, "kv": 2, "once": 1},
        {"moe": "MoE", "agent": "agent", "kv": "KV", "once": "once"},
    )
    before = [WeekSample(WINDOW, {}, {"agent": 2, "kv": 0}, {}) for _ in range(4)]
    expected = (RisingTerm("MoE", 4, 0.0), RisingTerm("KV", 2, 0.0))
    assert expected == rising_terms(now, before, 5)


def test_without_history_the_most_frequent_terms_are_shown() -> None:
    """No earlier week: terms in 2+ items, most frequent first, baseline None."""
    now = WeekSample(WINDOW, {}, {"moe": 2, "agent": 3}, {"moe": "MoE", "agent": "agent"})
    assert (RisingTerm("agent", 3, None), RisingTerm("MoE", 2, None)) == rising_terms(now, [], 5)


def test_rising_terms_come_from_the_archive(engine: Engine) -> None:
    """Terms of earlier weeks' titles form the baseline of this week's terms."""
    for back in (1, 2):
        archive(engine, week_digest(back, {"rag": ["Graph retrieval", "Graph retrieval v2"]}))
    current = week_digest(
        0, {"rag": ["Graph retrieval", "Mixture-of-Experts routing", "Mixture-of-Experts serving"]}
    )
    trends = trends_for(current, engine, CATEGORIES)
    assert trends is not None
    assert (RisingTerm("Mixture-of-Experts", 2, 0.0),) == trends.rising


def test_describe_shows_count_mean_and_arrow() -> None:
    """`6件（前4週平均 3件 ↑3）`, `↓`, `→ ±0`, and just the count without history."""
    lines = [
        describe(CategoryTrend("rag", "RAG", "🔎", 6, 3.0), 4),
        describe(CategoryTrend("rag", "RAG", "🔎", 1, 2.5), 4),
        describe(CategoryTrend("rag", "RAG", "🔎", 2, 2.0), 4),
        describe(CategoryTrend("rag", "RAG", "🔎", 2, None), 0),
    ]
    expected = ["6件（前4週平均 3件 ↑3）", "1件（前4週平均 2.5件 ↓1.5）", "2件（前4週平均 2件 →±0）", "2件"]
    assert expected == lines


def test_weekly_counts_are_oldest_first_with_gaps(engine: Engine) -> None:
    """The chart table: one column per week, None where no digest was archived."""
    archive(engine, week_digest(3, {"rag": ["A"] * 2}))
    archive(engine, week_digest(1, {"rag": ["A"] * 5, "agents": ["B"]}))
    current = week_digest(0, {"rag": ["A"] * 3})
    history = weekly_history(engine, current.window, 3, current=current)
    table = weekly_counts(history, current.window, CATEGORIES)
    assert (("rag", "RAG"), ("agents", "エージェント")) == table.categories
    assert {"rag": (2, None, 5, 3), "agents": (0, None, 1, 0)} == dict(table.counts)
    assert ["10/26", "11/2", "11/9", "11/16"] == table.labels("Asia/Tokyo")


def test_latest_weekly_window_anchors_the_cli(engine: Engine) -> None:
    """`digestbot trends` starts from the newest archived weekly digest."""
    assert latest_weekly_window(engine) is None
    archive(engine, week_digest(2, {"rag": ["A"]}))
    archive(engine, week_digest(1, {"rag": ["A"]}))
    assert week_digest(1, {}).window == latest_weekly_window(engine)


def test_build_trends_needs_this_week() -> None:
    """No sample for this week: no section."""
    assert build_trends([None, None], CATEGORIES) is None


def test_archive_rows_older_than_the_horizon_are_not_read(engine: Engine) -> None:
    """Digests attempted long before the compared weeks are ignored."""
    archive(engine, week_digest(1, {"rag": ["A"] * 2}))
    far = datetime.now(UTC) + timedelta(days=400)
    assert [] == [s for s in weekly_history(engine, Window(far, far + WEEK), 4)[1:] if s is not None]
