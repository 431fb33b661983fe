"""The learned ranking (taste.py): labels from votes, the numpy logistic regression, the blend in
compose, the time-split evaluation, on generated vote sets with a known preference (support/taste_votes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine
from tests.support.taste_votes import VotedItem, judge_rank, vote_set

from digestbot.agents.embedding import EmbeddingCache, shared_embedder
from digestbot.agents.offline import OfflineAgents
from digestbot.config_schema import FeedbackConfig
from digestbot.digest_json import digest_from_dict, digest_to_dict
from digestbot.domain import Digest, Window
from digestbot.feedback import hash_user, record_vote
from digestbot.graph.context import RunContext
from digestbot.graph.nodes.compose import compose_digest
from digestbot.graph.state import ItemResult
from digestbot.settings import load_settings
from digestbot.slack.preview_report import appendix_html
from digestbot.store import ItemStore
from digestbot.store.feedback import Vote
from digestbot.store.schema import open_engine
from digestbot.taste import MIN_PER_SIDE, Tuner, embedder_for, fit, labels, load_tuner
from digestbot.taste_eval import Evaluation, TooFew, evaluate

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 23, tzinfo=UTC)
VOTED = vote_set(80, seed=7)  # the first 40 are the history, the next 40 the later items
EMBED = embedder_for(EmbeddingCache(shared_embedder()))  # vectors shared by the tests of this module


def _vote(item_id: str, vote: int, day: int, user: str = "u1") -> Vote:
    return Vote(item_id, user, vote, "rag", "arxiv", updated_at=datetime(2026, 10, day, tzinfo=UTC))


def test_labels_are_net_votes_without_ties_oldest_latest_vote_first() -> None:
    """Net 👍 minus 👎 per item; a tie is no label; ordered by each item's latest vote."""
    votes = [
        _vote("a", 1, 5),
        _vote("a", -1, 9, "u2"),  # a: tie
        _vote("b", -1, 3),
        _vote("b", -1, 7, "u2"),
        _vote("c", 1, 4),
    ]
    expected = [("c", True, 4, 1), ("b", False, 7, 2)]
    assert expected == [(e.item_id, e.liked, e.when.day, e.votes) for e in labels(votes)]


def test_fit_recovers_a_planted_direction_and_is_deterministic() -> None:
    """On vectors where one direction decides the vote, the fit predicts it; two fits are bit-identical."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 20)).astype(np.float32)
    liked = [bool(v) for v in x[:, 4] > 0]
    first, second = fit(x, liked), fit(x, liked)
    fresh = rng.normal(size=(200, 20)).astype(np.float32)
    accuracy = float(((first.chance(fresh) >= 0.5) == (fresh[:, 4] > 0)).mean())
    assert (True, True) == (accuracy > 0.85, bool(np.array_equal(first.weights, second.weights)))


def test_after_40_votes_the_learned_ranking_beats_the_untuned_one_on_later_items() -> None:
    """Trained on 40 votes (likes one topic, dislikes another, 10 % flipped, 15 % neutral topics voted
    at random), it reaches balanced accuracy >= 0.70 on the next 40 items and beats the judge's scores
    alone by >= 0.05."""
    voted = VOTED
    examples = labels(
        Vote(v.item.id, "u", 1 if v.up else -1, "rag", "arxiv", updated_at=v.voted_at) for v in voted
    )
    items = {v.item.id: v.item for v in voted}
    ranks = {v.item.id: judge_rank(v.scores) for v in voted}
    result = evaluate(examples, items, ranks, EMBED, train=40)
    assert isinstance(result, Evaluation)
    assert (40, 40) == (result.train.items, result.test.items)
    assert result.learned.balanced >= 0.70, result
    assert result.learned.balanced - result.untuned.balanced >= 0.05, result


def test_evaluation_says_too_few_votes() -> None:
    """Nine voted items cannot be split into a training and a test part: TooFew says what is missing."""
    voted = VOTED[:9]
    examples = labels(Vote(v.item.id, "u", 1 if v.up else -1, "x", "x", updated_at=v.voted_at) for v in voted)
    ranks = {v.item.id: judge_rank(v.scores) for v in voted}
    result = evaluate(examples, {v.item.id: v.item for v in voted}, ranks, EMBED)
    assert isinstance(result, TooFew)
    assert result.reason.startswith("6 older voted items to learn from"), result.reason


# --- the blend in compose -----------------------------------------------------------------------------


def _results(window_items: list[VotedItem]) -> list[ItemResult]:
    """Two categories of 8 (cap 5); the judge slightly prefers the disliked topic."""
    out: list[ItemResult] = []
    for n, voted in enumerate(window_items):
        strong = voted.topic == "disliked"
        verdict = {"relevance": 4, "significance": 4 if strong else 3, "faithfulness": 5, "japanese": 5}
        out.append(
            {
                "item_id": voted.item.id,
                "status": "kept",
                "category": ("data", "safety")[n % 2],
                "blurb": "要約。",
                "verdict": verdict,
                "confidence": 0.5,
            }
        )
    return out


def _store(tmp_path: Path) -> Engine:
    engine = open_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with ItemStore(engine) as store:
        store.upsert([v.item for v in VOTED])
    return engine


def _record(engine: Engine, voted: list[VotedItem]) -> None:
    for v in voted:
        record_vote(
            engine, item_id=v.item.id, category="rag", user_hash=hash_user("T", "U1"), up=v.up, now=v.voted_at
        )


def _compose(tuner: Tuner | None) -> Digest:
    settings = load_settings(ROOT / "config", environ={})
    ctx = RunContext(settings=settings, agents=OfflineAgents(settings), categories=settings.categories)
    window_items = [v for v in VOTED[40:] if v.topic != "neutral"][:16]
    window = Window(NOW - timedelta(days=7), NOW)
    results = _results(window_items)
    return compose_digest(window, [v.item for v in window_items], results, replace(ctx, taste=tuner), now=NOW)


def test_below_the_minimum_votes_the_digest_is_exactly_todays(tmp_path: Path) -> None:
    """With no votes, and with one voted item short of `ranking_min_votes`, the composed digest is the
    same as with the learned ranking switched off; from the minimum on, it is not."""
    engine = _store(tmp_path)
    config = FeedbackConfig()
    embeddings = EmbeddingCache(shared_embedder())
    today = digest_to_dict(
        _compose(load_tuner(engine, config.model_copy(update={"ranking": False}), embeddings))
    )
    history = [v for v in VOTED[:40] if v.topic != "neutral"]
    assert min(sum(v.up for v in history[:29]), sum(not v.up for v in history[:29])) >= MIN_PER_SIDE
    seen = []
    for count in (0, config.ranking_min_votes - 1, config.ranking_min_votes):
        _record(engine, history[len(seen) : count])
        seen = history[:count]
        seen_digest = digest_to_dict(_compose(load_tuner(engine, config, embeddings)))
        assert (count >= config.ranking_min_votes) == (today != seen_digest), count


def test_learned_ranking_orders_within_categories_and_decides_the_caps(tmp_path: Path) -> None:
    """After 36 votes the liked topic's entries move up and the caps cut more of the disliked topic;
    the digest says how many votes tuned it, entries keep the judge's rank, digest.json round-trips."""
    engine = _store(tmp_path)
    _record(engine, [v for v in VOTED[:40] if v.topic != "neutral"])
    tuner = load_tuner(engine, FeedbackConfig(), EmbeddingCache(shared_embedder()))
    assert tuner is not None
    untuned, tuned = _compose(None), _compose(tuner)

    def liked_shown(digest: Digest) -> int:
        topics = {v.item.id: v.topic for v in VOTED}
        return sum(topics[e.item.id] == "liked" for s in digest.sections for e in s.entries)

    assert liked_shown(tuned) >= liked_shown(untuned) + 3, (liked_shown(untuned), liked_shown(tuned))
    assert tuned.ranking is not None
    assert (tuner.model.votes, True) == (tuned.ranking.votes, tuned.ranking.moved > 0)
    entry = tuned.sections[0].entries[0]
    assert entry.taste is not None and entry.judge_rank is not None
    assert round(entry.judge_rank + 2 * entry.taste - 1, 4) == pytest.approx(entry.rank, abs=2e-4)
    assert tuned == digest_from_dict(digest_to_dict(tuned))
    assert tuned.ranking.line().startswith(f"ranking tuned by {tuner.model.votes} votes on")
    assert f"チームの投票 {tuner.model.votes}件" in appendix_html(tuned)  # the preview says so too
