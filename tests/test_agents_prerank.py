"""The embedding pre-rank in front of the LLM classifier: quotas from the caps, strong keywords, no-op."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest

from digestbot.agents.embedding import EmbeddingCache, Kind, Vectors
from digestbot.agents.offline_classify import CategoryScore, category_model
from digestbot.agents.offline_semantic import Evidence, SemanticClassifier, SemanticParams
from digestbot.agents.prerank import DEFAULT_CHUNK, Scorer, is_strong, level, prerank, quotas, select
from digestbot.domain import Item, SourceName
from digestbot.settings import Category, PrerankConfig

NOW = datetime(2026, 11, 20, tzinfo=UTC)
CATS = (
    Category(id="rag", name="RAG", description="retrieval", cap=2),
    Category(id="agents", name="エージェント", description="agents", cap=1),
    Category(id="other", name="その他", description="rest", cap=3),
)


def _item(n: int) -> Item:
    return Item(
        id=f"arxiv:2611.{n:05d}",
        source=SourceName.ARXIV,
        url=f"https://arxiv.org/abs/2611.{n:05d}",
        title=f"Paper {n}",
        text="abstract",
        published=NOW,
        updated=NOW,
    )


def _evidence(rag: float, agents: float, *, keyword: float = 0.0, title: bool = False) -> Evidence:
    """Similarities to rag / agents (other has no prototypes); `keyword`: rag's keyword score."""
    hits = {"retrieval": keyword, "rag": keyword} if keyword else {}
    return Evidence(
        similarity=(rag, agents, 0.0),
        nearest=("rag", "agents", ""),
        keywords=(CategoryScore(keyword, hits), CategoryScore(), CategoryScore()),
        title_hit=(title, False, False),
    )


class Refusing:
    """An embedder that must not be used."""

    model_id = "never"
    embedded = 0

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        raise AssertionError("nothing should be embedded")


def test_quotas_come_from_the_caps_and_the_fallback_has_none() -> None:
    """Each category keeps ceil(cap × margin); "other" has no prototypes and no quota of its own."""
    assert {"rag": 3, "agents": 2} == quotas(CATS, "other", 1.5)


def test_each_category_keeps_its_best_candidates_by_level_then_id() -> None:
    """The union of every category's best ceil(cap × margin); a weaker level is cut, ties go by id."""
    items = [_item(n) for n in range(1, 7)]
    evidence = [
        _evidence(0.95, 0.80),  # rag level 3
        _evidence(0.80, 0.80),  # nothing
        _evidence(0.951, 0.80),  # rag level 3 (a finer cosine is no better: ties by id)
        _evidence(0.95, 0.80),  # rag level 3, but rag keeps 2
        _evidence(0.80, 0.88),  # agents level 2
        _evidence(0.80, 0.85),  # agents level 1
    ]
    result = select(items, evidence, CATS, "other", PrerankConfig(margin=1.0))
    assert [items[0].id, items[2].id, items[4].id] == [i.id for i in result.kept]
    assert [items[1].id, items[3].id, items[5].id] == [item_id for item_id, _ in result.dropped]
    assert "best: rag, rank 3 of 6, keeps 2" in dict(result.dropped)[items[3].id]


def test_an_item_with_strong_keyword_evidence_is_never_cut() -> None:
    """Far from every prototype and outside every quota, a strong keyword match in the title still goes on."""
    items = [_item(n) for n in range(1, 6)]
    evidence = [_evidence(0.95, 0.95) for _ in range(4)]
    evidence.append(_evidence(0.5, 0.5, keyword=13.0, title=True))
    weak_title = [*evidence[:4], _evidence(0.5, 0.5, keyword=13.0, title=False)]
    config = PrerankConfig(margin=1.0, strong_keyword_score=12.0)
    kept = select(items, evidence, CATS, "other", config)
    assert (items[4].id in {i.id for i in kept.kept}, kept.strong) == (True, 1)
    assert items[4].id not in {i.id for i in select(items, weak_title, CATS, "other", config).kept}


def test_nothing_is_embedded_when_the_candidates_fit_the_quotas() -> None:
    """Fewer candidates than the quotas' sum: all go on and the model is never loaded."""
    items = [_item(n) for n in range(1, 6)]
    result = prerank(items, CATS, "other", PrerankConfig(margin=2.0), embeddings=EmbeddingCache(Refusing()))
    assert (items, [], False) == (result.kept, result.dropped, result.embedded)
    with pytest.raises(AssertionError, match="nothing should be embedded"):
        prerank(items, CATS, "other", PrerankConfig(margin=1.0), embeddings=EmbeddingCache(Refusing()))


class Counting:
    """A deterministic fake embedder (8 dimensions, cosines spread around the thresholds) that records
    how many texts each call asked for."""

    model_id = "counting-fake"

    def __init__(self) -> None:
        self.embedded = 0
        self.calls: list[tuple[Kind, int]] = []

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.calls.append((kind, len(texts)))
        self.embedded += len(texts)
        rows = []
        for text in texts:
            digest = hashlib.sha256(f"{kind}:{text}".encode()).digest()
            row = np.array([b / 255 for b in digest[:8]], dtype=np.float32)
            rows.append(row / np.linalg.norm(row))
        return np.stack(rows)


WORDS = ("retrieval", "agents", "tools", "rag", *(f"w{n}" for n in range(30)))  # the keywords are rare


def _week(count: int) -> list[Item]:
    """Generated candidates: titles and abstracts from a small vocabulary, some with keyword hits."""
    rng = random.Random(11)
    return [
        Item(
            id=f"arxiv:2611.{n:05d}",
            source=SourceName.ARXIV,
            url=f"https://arxiv.org/abs/2611.{n:05d}",
            title=" ".join(rng.choice(WORDS) for _ in range(4)).title(),
            text=". ".join(" ".join(rng.choice(WORDS) for _ in range(6)) for _ in range(3)),
            published=NOW,
            updated=NOW,
        )
        for n in rng.sample(range(1, 100_000), count)
    ]


KEYWORDED = (
    Category(id="rag", name="RAG", description="retrieval", cap=3, keywords_en=("retrieval", "rag")),
    Category(id="agents", name="エージェント", description="agents", cap=2, keywords_en=("agents", "tools")),
    Category(id="other", name="その他", description="rest", cap=3),
)


def _the_rule(items: Sequence[Item], evidence: Sequence[Evidence], config: PrerankConfig) -> set[str]:
    """The documented cut, written out: each category's quota by level then id, plus strong items."""
    params, kept = SemanticParams(), set()
    for index, cat in enumerate(KEYWORDED[:2]):
        ranked = sorted(
            zip(items, evidence, strict=True), key=lambda p: (-level(p[1], index, params), p[0].id)
        )
        kept |= {item.id for item, _ in ranked[: quotas(KEYWORDED, "other", config.margin)[cat.id]]}
    strong = [is_strong(ev, [0, 1], config.strong_keyword_score) for ev in evidence]
    return kept | {item.id for item, hit in zip(items, strong, strict=True) if hit}


@pytest.mark.parametrize("chunk", [1, 7, DEFAULT_CHUNK])
def test_the_chunked_cut_is_the_cut_over_the_whole_week_at_once(chunk: int) -> None:
    """Whatever the chunk size, the same items are kept and dropped (same reasons) as when every
    candidate's evidence is computed at once, and the embedder never gets more than `chunk` items."""
    items = _week(300)
    config = PrerankConfig(margin=2.0, strong_keyword_score=6.0)
    whole_embedder = Counting()
    whole = SemanticClassifier(category_model(KEYWORDED, "other"), EmbeddingCache(whole_embedder))
    evidence = whole.evidence(items)
    expected = select(items, evidence, KEYWORDED, "other", config)
    assert _the_rule(items, evidence, config) == {i.id for i in expected.kept}
    embedder = Counting()
    result = prerank(items, KEYWORDED, "other", config, embeddings=EmbeddingCache(embedder), chunk=chunk)
    assert [i.id for i in expected.kept] == [i.id for i in result.kept]
    assert (expected.dropped, expected.strong) == (result.dropped, result.strong)
    assert (6, 287) == (
        result.strong,
        len(result.dropped),
    )  # ties at every level, strong items outside quotas
    item_calls = [n for kind, n in embedder.calls if kind == "query"]
    texts = len(items) + len({i.title for i in items})  # title + first words, and the title alone
    assert (texts, min(chunk, len(items))) == (sum(item_calls), max(item_calls))


def test_the_scorer_takes_items_as_they_come() -> None:
    """Pages fed one by one to `Scorer.add` give the same scores, in order, as the whole list at once."""
    items = _week(40)
    config = PrerankConfig(margin=1.0)
    embeddings = EmbeddingCache(Counting())
    paged = Scorer(KEYWORDED, "other", config, embeddings=embeddings, chunk=8)
    for start in range(0, len(items), 13):
        paged.add(iter(items[start : start + 13]))
    whole = Scorer(KEYWORDED, "other", config, embeddings=embeddings, chunk=len(items))
    whole.add(items)
    assert whole.scores == paged.scores
    assert [i.id for i in items] == [s.item_id for s in paged.scores]
