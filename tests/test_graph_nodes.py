"""Pure parts of the graph nodes: category cleaning, score clamping, keep/revise/drop, ranking and caps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digestbot.agents.base import UsageReport
from digestbot.agents.guards import GuardFailure, GuardReport
from digestbot.domain import DigestEntry, Item, Popularity, Scores, SourceName
from digestbot.graph.nodes.classify import clean_classification, shortlist
from digestbot.graph.nodes.compose import build_sections, capped_out, rank
from digestbot.graph.nodes.judge import clamp, decide, judge_blurb
from digestbot.graph.state import Classification, Verdict
from digestbot.settings import Category, JudgeConfig

CATS = (
    Category(id="rag", name="RAG", description="retrieval", cap=2),
    Category(id="agents", name="エージェント", description="agents", cap=2),
    Category(id="other", name="その他", description="rest", cap=1),
)
NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _item(n: int, likes: int | None = None) -> Item:
    return Item(
        id=f"arxiv:2611.{n:05d}",
        source=SourceName.ARXIV,
        url=f"https://arxiv.org/abs/2611.{n:05d}",
        title=f"Paper {n}",
        text="abstract",
        published=NOW,
        updated=NOW,
        popularity=Popularity(likes=likes),
    )


def _entry(n: int, category: str, relevance: int) -> DigestEntry:
    scores = Scores(relevance, 3, 5, 5)
    item = _item(n)
    return DigestEntry(
        item=item, category=category, blurb="要約。", scores=scores, rank=rank(scores, item, 0.5)
    )


def test_unknown_primary_goes_to_other() -> None:
    """A category id the config does not know is mapped to the configured 'other' category."""
    raw = Classification(item_id="x", primary="Quantum", secondary=["rag", "rag", "nope", "agents", "other"])
    cleaned = clean_classification(raw, CATS, "other")
    assert cleaned is not None
    assert ("other", ["rag", "agents"]) == (cleaned.primary, cleaned.secondary)


def test_unknown_primary_without_other_is_off_topic() -> None:
    """With no 'other' category configured, an unknown primary means the item is dropped."""
    assert clean_classification(Classification(item_id="x", primary="nope"), CATS, None) is None


def test_confidence_is_clamped() -> None:
    """Confidence outside 0..1 is clamped, ids are normalized to lower case."""
    cleaned = clean_classification(Classification(item_id="x", primary=" RAG ", confidence=7), CATS, "other")
    assert cleaned is not None
    assert ("rag", 1.0) == (cleaned.primary, cleaned.confidence)


@pytest.mark.parametrize(
    ("raw", "expected"), [(0, 1), (9, 5), (3.6, 4), ("5", 5), ("excellent", 1), (None, 1)]
)
def test_clamp_keeps_scores_on_the_rubric(raw: object, expected: int) -> None:
    """Whatever the model sends, a score ends up an integer in 1..5."""
    assert expected == clamp(raw)


def test_decide_keeps_good_items() -> None:
    """Scores at or above every threshold keep the item."""
    assert ("keep", "") == decide(Scores(4, 3, 5, 5), JudgeConfig(), 0)


def test_decide_revises_a_weak_blurb_once() -> None:
    """A faithfulness fault sends the blurb back while revisions remain, then drops it."""
    config = JudgeConfig(max_revisions=1)
    assert "revise" == decide(Scores(4, 3, 2, 5), config, 0)[0]
    action, why = decide(Scores(4, 3, 2, 5), config, 1)
    assert ("drop", True) == (action, "after 1 revision" in why)


def test_decide_never_keeps_a_blurb_that_fails_a_guard() -> None:
    """Perfect scores and the lowest thresholds still revise, then drop, a blurb failing a guard."""
    failure = GuardFailure("numbers", "15 is not in the source", "数値を削除")
    report = GuardReport(failures=(failure,), japanese_score=1.0)
    config = JudgeConfig(min_faithfulness=1, min_japanese=1, max_revisions=1)
    assert ("revise", "drop") == (
        decide(Scores(5, 5, 5, 5), config, 0, report)[0],
        decide(Scores(5, 5, 5, 5), config, 1, report)[0],
    )


class LenientJudge:
    """An `Agents` whose judge gives every blurb top marks (only `judge` is used here)."""

    offline = False
    usage = UsageReport(model="lenient")

    def fingerprint(self, agent: str) -> str:
        return agent

    def batch_size(self, agent: str) -> int:
        return 1

    async def classify(self, items: object, categories: object) -> list[object]:
        raise NotImplementedError

    async def summarize(self, item: Item, *, max_chars: int, feedback: str = "") -> str:
        raise NotImplementedError

    async def judge(self, item: Item, blurb: str, category: Category) -> Verdict:
        return Verdict(relevance=5, significance=5, faithfulness=5, japanese=5)


async def test_judge_blurb_revises_with_the_guard_reason_then_drops_the_wrong_sentence() -> None:
    """A lenient judge cannot keep an invented number: first a revision naming it, then the
    sentence with it is dropped and the rest kept."""
    item = Item(
        id="arxiv:9", source=SourceName.ARXIV, url="https://arxiv.org/abs/9", title="FooNet",
        text="We propose FooNet, a retrieval method for long documents.", published=NOW, updated=NOW,
    )  # fmt: skip
    blurb = "長文書向けの検索手法FooNetを提案。再現率が15%向上。"
    category = Category(id="rag", name="RAG", description="retrieval")
    config = JudgeConfig(max_revisions=1)
    agents = LenientJudge()
    first = await judge_blurb(agents, item, blurb, category, config, revisions=0, max_chars=120)  # type: ignore[arg-type]
    last = await judge_blurb(agents, item, blurb, category, config, revisions=1, max_chars=120)  # type: ignore[arg-type]
    assert ("revise", True, 2) == (first.action, "「15」" in first.feedback, first.scores.faithfulness)
    assert ("keep", "長文書向けの検索手法FooNetを提案。") == (last.action, last.blurb)
    assert last.why.startswith("guard: dropped the failing sentence")


def test_decide_drops_irrelevant_items_without_revision() -> None:
    """Low relevance is the item's fault, not the blurb's: no revision is spent on it."""
    assert "drop" == decide(Scores(1, 5, 1, 1), JudgeConfig(), 0)[0]


def test_sections_follow_config_order_and_caps() -> None:
    """Sections come in config order, best first, capped per category with the hidden count kept."""
    kept = [_entry(1, "agents", 3), _entry(2, "rag", 3), _entry(3, "rag", 5), _entry(4, "rag", 4)]
    sections = build_sections(kept, CATS, total_cap=10)
    assert ["rag", "agents"] == [s.category for s in sections]
    rag = sections[0]
    assert (["arxiv:2611.00003", "arxiv:2611.00004"], 3, 1) == (
        [e.item.id for e in rag.entries],
        rag.total,
        rag.hidden,
    )


def test_total_cap_keeps_the_best_overall() -> None:
    """The total cap removes the weakest entries across categories."""
    kept = [_entry(1, "agents", 2), _entry(2, "rag", 5), _entry(3, "rag", 4)]
    sections = build_sections(kept, CATS, total_cap=2)
    assert {"arxiv:2611.00002", "arxiv:2611.00003"} == {e.item.id for s in sections for e in s.entries}


def test_popularity_breaks_ties() -> None:
    """Between equal judge scores, the more liked article ranks higher."""
    scores = Scores(4, 4, 5, 5)
    assert rank(scores, _item(1, likes=50), 0.5) > rank(scores, _item(2), 0.5)


def _cls(item_id: str, primary: str, relevance: int, confidence: float = 0.5) -> Classification:
    return Classification(item_id=item_id, primary=primary, relevance=relevance, confidence=confidence)


def test_shortlist_keeps_the_best_per_category() -> None:
    """Only cap × factor items per category go on to the summarizer; the rest are reported as cut."""
    items = [_item(n) for n in range(1, 6)]
    classified = {
        items[0].id: _cls(items[0].id, "rag", 3),
        items[1].id: _cls(items[1].id, "rag", 5),
        items[2].id: _cls(items[2].id, "rag", 4),
        items[3].id: _cls(items[3].id, "agents", 1),
        items[4].id: _cls(items[4].id, "agents", 2),
    }
    kept, cut = shortlist(classified, items, CATS, factor=1.0, min_relevance=2)
    assert {items[1].id, items[2].id, items[4].id} == set(kept)
    assert {items[0].id: "not shortlisted", items[3].id: "classifier: relevance 1"} == {
        r["item_id"]: r["detail"].split(" <")[0].split(":")[0]
        if r["detail"].startswith("not")
        else r["detail"].split(" <")[0]
        for r in cut
    }


def test_shortlist_factor_zero_keeps_everything_relevant() -> None:
    """With the shortlist switched off, every relevant item is summarized."""
    items = [_item(n) for n in range(1, 5)]
    classified = {i.id: _cls(i.id, "rag", 3) for i in items}
    kept, cut = shortlist(classified, items, CATS, factor=0, min_relevance=2)
    assert (4, []) == (len(kept), cut)


def test_capped_entries_are_named_with_their_category_rank_and_which_cap() -> None:
    """Over a category's cap or the total cap: each entry left out says which, and its place."""
    kept = [_entry(1, "agents", 3), _entry(2, "rag", 3), _entry(3, "rag", 5), _entry(4, "rag", 4)]
    sections = build_sections(kept, CATS, total_cap=2)
    capped = capped_out(kept, sections, CATS, total_cap=2)
    expected = [
        ("arxiv:2611.00002", "rag", 3, "category cap: rag shows its best 2"),
        ("arxiv:2611.00001", "agents", 1, "total cap: the digest shows the best 2"),
    ]
    assert expected == [(c.item_id, c.category, c.rank, c.reason) for c in capped]
    assert {"capped"} == {c.status for c in capped}


def test_shortlist_drop_keeps_the_classifiers_category_relevance_and_reason() -> None:
    """A shortlisted-out item carries its stage, category, rank in the category and classifier relevance."""
    items = [_item(n) for n in range(1, 4)]
    classified = {i.id: _cls(i.id, "other", 4 - n) for n, i in enumerate(items)}
    _, cut = shortlist(classified, items, CATS, factor=1.0, min_relevance=1)
    expected = [("shortlist", "other", 3, "not shortlisted: other keeps its best 1 for summaries (rank 2)")]
    assert expected == [(r["stage"], r["category"], r["relevance"], r["detail"]) for r in cut[:1]]


def test_shortlist_is_sized_by_the_category_caps_and_the_total_cap() -> None:
    """At most ceil(cap × factor) per category and ceil(total_cap × factor) in all, the best first."""
    items = [_item(n) for n in range(1, 9)]
    relevance = [5, 4, 3, 2, 5, 4, 3, 2]  # items 1-4 rag (cap 2), 5-8 agents
    classified = {
        item.id: _cls(item.id, "rag" if n < 4 else "agents", rel)
        for n, (item, rel) in enumerate(zip(items, relevance, strict=True))
    }
    kept, cut = shortlist(classified, items, CATS, factor=1.5, min_relevance=1, total_cap=3)
    caps = {c.id: c.cap for c in CATS}
    assert (2, 2) == (caps["rag"], caps["agents"])  # -> 3 per category, ceil(3 × 1.5) = 5 in all
    assert [items[0].id, items[4].id, items[1].id, items[5].id, items[2].id] == list(kept)
    total = [r["item_id"] for r in cut if "the digest keeps its best 5" in r["detail"]]
    assert [items[6].id] == total
