"""Offline classifier's decision: embedding similarity first, keyword evidence that never decides alone."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import build_item

from digestbot.agents.embedding import EmbeddingCache, Kind, Vectors
from digestbot.agents.offline_classify import CategoryScore, category_model
from digestbot.agents.offline_semantic import (
    Evidence,
    SemanticClassifier,
    SemanticParams,
    decide,
    keyword_evidence,
    prototypes,
)
from digestbot.agents.offline_text import TermMatcher, normalize
from digestbot.settings import Category, load_settings

CONFIG = Path(__file__).resolve().parents[1] / "config"
PARAMS = SemanticParams()


@pytest.fixture(scope="module")
def categories() -> tuple[Category, ...]:
    return load_settings(CONFIG, environ={}).categories


def evidence(
    categories: tuple[Category, ...],
    sims: dict[str, float],
    keywords: dict[str, dict[str, float]] | None = None,
    titles: frozenset[str] = frozenset(),
    base: float = 0.82,
) -> Evidence:
    """Similarity `base` for every category not named; keyword hits as {category: {term: contribution}}."""
    keywords = keywords or {}
    scores = tuple(
        CategoryScore(score=sum(keywords.get(c.id, {}).values()), hits=dict(keywords.get(c.id, {})))
        for c in categories
    )
    return Evidence(
        similarity=tuple(sims.get(c.id, base) for c in categories),
        nearest=tuple(c.description for c in categories),
        keywords=scores,
        title_hit=tuple(c.id in titles for c in categories),
    )


def test_a_single_generic_keyword_does_not_decide_against_a_clear_embedding(categories):
    """ "efficient" once in the abstract (efficiency) loses to an item that is clearly about retrieval."""
    ev = evidence(categories, {"rag": 0.90}, {"efficiency": {"efficient": 3.0}})
    assert "rag" == decide(ev, categories, "other", PARAMS).primary


def test_the_same_lone_keyword_counts_nothing(categories):
    """One distinct term outside the title gives no evidence, however often it occurs."""
    assert 0.0 == keyword_evidence(CategoryScore(score=4.0, hits={"efficient": 4.0}), False, PARAMS)
    assert 0.0 < keyword_evidence(CategoryScore(score=4.0, hits={"efficient": 4.0}), True, PARAMS)


def test_strong_multi_term_keywords_decide_when_the_embedding_is_ambiguous(categories):
    """Four RL terms win when the embedding only slightly prefers another category."""
    terms = {"dpo": 3.0, "ppo": 3.0, "reward model": 4.5, "preference optimization": 4.5}
    ev = evidence(categories, {"training": 0.85, "rl": 0.845}, {"rl": terms})
    result = decide(ev, categories, "other", PARAMS)
    assert "rl" == result.primary
    assert "keywords:" in result.reason


def test_the_embedding_alone_decides_when_no_keyword_matches(categories):
    """No keyword at all: the nearest prototype's category, and the reason names it."""
    result = decide(evidence(categories, {"safety": 0.9}), categories, "other", PARAMS)
    assert ("safety", True) == (result.primary, result.reason.startswith("nearest: "))


def test_other_when_nothing_fits(categories):
    """Every prototype far and no keyword evidence: the fallback category (or none without one)."""
    ev = evidence(categories, {}, base=0.80)
    assert "other" == decide(ev, categories, "other", PARAMS).primary
    assert "" == decide(ev, categories, None, PARAMS).primary
    close = evidence(categories, {"agents": 0.86}, base=0.80)
    assert "agents" == decide(close, categories, "other", PARAMS).primary


def test_confidence_follows_the_margin(categories):
    """A clear lead is more confident than a near tie."""
    clear = decide(evidence(categories, {"rag": 0.92}), categories, "other", PARAMS)
    tie = decide(evidence(categories, {"rag": 0.90, "agents": 0.899}), categories, "other", PARAMS)
    assert clear.confidence > tie.confidence
    assert "agents" in tie.secondary


def test_prototypes_come_from_the_category_text(categories):
    """Description, include hints, examples and the keywords; the fallback has nothing to match."""
    training = next(c for c in categories if c.id == "training")
    texts = prototypes(training)
    assert texts[0].startswith(f"{training.name}: ")
    assert set(training.include) <= set(texts)
    assert set(training.examples) <= set(texts)
    assert any(training.keywords[0] in text for text in texts[-1:])


def test_a_title_that_declares_the_paper_type_decides(categories):
    """A survey on retrieval goes to survey (its title_terms), however close the rag prototypes are."""
    ev = evidence(categories, {"rag": 0.92, "survey": 0.84}, {"rag": {"rag": 4.5, "retrieval": 3.0}})
    declared = replace(ev, declared=tuple(c.id == "survey" for c in categories))
    assert "rag" == decide(ev, categories, "other", PARAMS).primary
    result = decide(declared, categories, "other", PARAMS)
    assert ("survey", True) == (result.primary, result.reason.startswith("title declares the type"))


def test_the_support_of_several_prototypes_ranks_not_the_nearest_alone(categories):
    """One stray prototype close to the item does not carry a category whose others are far."""
    ev = evidence(categories, {"multimodal": 0.90, "training": 0.89})
    support = {"multimodal": 0.84, "training": 0.88}
    ranked = replace(ev, support=tuple(support.get(c.id, 0.80) for c in categories))
    assert "multimodal" == decide(ev, categories, "other", PARAMS).primary
    assert "training" == decide(ranked, categories, "other", PARAMS).primary


def test_the_shipped_survey_category_declares_its_type_by_title(categories):
    """config/categories.toml: 'survey' has title_terms; they match a survey title, not a topic word."""
    survey = next(c for c in categories if c.id == "survey")
    matcher = TermMatcher(survey.title_terms)
    assert list(matcher.keys(normalize("Retrieval Models: A Survey")))
    assert not list(matcher.keys(normalize("Reviewing Code with Language Models")))


class _Recording:
    """A fake embedder: a fixed vector per text (from its hash), and the texts it was asked for."""

    model_id = "recording-fake"

    def __init__(self) -> None:
        self.embedded = 0
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.embedded += len(texts)
        self.texts += texts
        rows = [np.frombuffer(hashlib.sha256(f"{kind}{t}".encode()).digest(), np.uint8) for t in texts]
        vectors = np.asarray(rows, dtype=np.float32) - 127.5
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize(("weight", "titles"), [(0.5, 1), (0.0, 0)])
def test_the_title_is_embedded_alone_only_when_it_weighs(categories, weight, titles):
    """title_weight 0.5: the title alone is one more text per item; 0: it is never embedded."""
    embedder = _Recording()
    params = replace(PARAMS, title_weight=weight)
    classifier = SemanticClassifier(category_model(categories, "other"), EmbeddingCache(embedder), params)
    before = len(embedder.texts)
    item = build_item("arxiv:2601.00001", title="A Title", text="Some text here.")
    [row] = classifier.vectors([item])
    assert (1 + titles, titles == 1) == (len(embedder.texts) - before, "A Title" in embedder.texts)
    assert 1.0 == pytest.approx(float(np.linalg.norm(row)), abs=1e-5)
