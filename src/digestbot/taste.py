"""The learned ranking: the team's 👍/👎 as a logistic regression over the offline classifier's embeddings.

Each voted item with a clear net vote (👍 minus 👎 over every reader) is one example: its vector is the
one the offline classifier and the pre-rank use (`SemanticParams.words` of title and first sentences,
e5 "query:" prefix), so it is usually cached already. Vectors are centred on the examples' mean and
divided by their overall standard deviation; the model is fitted by Newton's method with an L2 penalty
(`L2`) and classes weighted to equal total weight (a team that mostly clicks 👍 still learns what it
dislikes). It is a few lines of numpy, deterministic to the bit for the same votes; scikit-learn would
add a 30 MB dependency for the same estimator.

In a run, the learned chance p that the team likes an entry is blended into the judge's rank:
`rank = judge rank + weight × (2p − 1)`, which orders the entries within a category and decides
what the caps cut. Below `ranking_min_votes` voted items (or fewer than `MIN_PER_SIDE` of either
vote) there is no model and the ranking is exactly the judge's.

Category corrections (「カテゴリを直す」) are not used: a wrong category says where an item belongs, not
whether the team wants to read it; they teach the classifier instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine

from digestbot.agents.embedding import EmbeddingCache, Vectors
from digestbot.config_schema import FeedbackConfig
from digestbot.domain import DigestEntry, Item, TasteRanking
from digestbot.store.feedback import Vote, votes
from digestbot.store.taste import items_by_id

L2 = 10.0  # penalty on the standardized vectors; chosen on generated vote sets (tests/support)
MIN_PER_SIDE = 5  # 👍 items and 👎 items each, before a model is fitted
_ITERATIONS = 50

Floats = NDArray[np.float64]
Embed = Callable[[Sequence[Item]], Vectors]


@dataclass(frozen=True)
class Labeled:
    """One voted item: liked when its net vote is positive; `when` is its latest vote."""

    item_id: str
    liked: bool
    when: datetime
    votes: int


def labels(all_votes: Iterable[Vote]) -> list[Labeled]:
    """Items with a clear net vote (ties are left out), oldest latest vote first (ties by id)."""
    net: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    latest: dict[str, datetime] = {}
    for vote in all_votes:
        net[vote.item_id] += vote.vote
        count[vote.item_id] += 1
        when = vote.updated_at
        if when is not None and (vote.item_id not in latest or when > latest[vote.item_id]):
            latest[vote.item_id] = when
    out = [Labeled(i, net[i] > 0, latest[i], count[i]) for i in net if net[i] != 0 and i in latest]
    return sorted(out, key=lambda label: (label.when, label.item_id))


def enough(examples: Sequence[Labeled], min_votes: int) -> bool:
    liked = sum(1 for e in examples if e.liked)
    return len(examples) >= min_votes and min(liked, len(examples) - liked) >= MIN_PER_SIDE


@dataclass(frozen=True)
class TasteModel:
    mean: Floats
    scale: float
    weights: Floats
    bias: float
    votes: int  # the votes behind it
    items: int  # the voted items it was fitted on

    def chance(self, vectors: Vectors) -> Floats:
        """The learned chance (0..1) that the team likes each row."""
        z = ((np.asarray(vectors, dtype=np.float64) - self.mean) / self.scale) @ self.weights + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0))), dtype=np.float64)


def fit(vectors: Vectors, liked: Sequence[bool], *, l2: float = L2, votes: int = 0) -> TasteModel:
    """L2-regularized, class-balanced logistic regression (Newton's method; the bias is not penalized)."""
    x = np.asarray(vectors, dtype=np.float64)
    y = np.asarray(liked, dtype=np.float64)
    n, dims = x.shape
    mean = x.mean(axis=0)
    scale = float(x.std()) or 1.0
    design = np.hstack([(x - mean) / scale, np.ones((n, 1))])
    share = y.mean()
    weight = np.where(y > 0, 0.5 / max(share, 1e-9), 0.5 / max(1 - share, 1e-9))
    penalty = np.full(dims + 1, l2)
    penalty[-1] = 1e-6
    beta = np.zeros(dims + 1)
    for _ in range(_ITERATIONS):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -30.0, 30.0)))
        gradient = design.T @ (weight * (p - y)) + penalty * beta
        hessian = (design * (weight * p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.abs(step).max()) < 1e-9:
            break
    return TasteModel(mean, scale, beta[:-1], float(beta[-1]), votes or n, n)


def embedder_for(embeddings: EmbeddingCache) -> Embed:
    """Item vectors exactly as the offline classifier computes (and caches) them."""
    from digestbot.agents.offline_semantic import SemanticParams

    params = SemanticParams()
    return lambda items: embeddings.items(items, params.words, params.item_kind)


def train(
    all_votes: Sequence[Vote], items: Mapping[str, Item], embed: Embed, *, min_votes: int
) -> TasteModel | None:
    """The model from every vote on a stored item, or None below the minimum."""
    examples = [e for e in labels(all_votes) if e.item_id in items]
    if not enough(examples, min_votes):
        return None
    vectors = embed([items[e.item_id] for e in examples])
    return fit(vectors, [e.liked for e in examples], votes=sum(e.votes for e in examples))


@dataclass(frozen=True)
class Tuner:
    """What compose needs: the model, how to embed an entry, and the blend weight."""

    model: TasteModel
    embed: Embed
    weight: float

    def retune(self, entries: Sequence[DigestEntry]) -> tuple[list[DigestEntry], TasteRanking]:
        """Entries with `rank` = judge rank + weight × (2p − 1) (judge rank and p kept beside it)."""
        if not entries:
            return [], TasteRanking(self.model.votes, self.model.items, self.weight, 0)
        chances = self.model.chance(self.embed([e.item for e in entries]))
        tuned = [
            replace(
                e,
                rank=round(e.rank + self.weight * (2 * float(p) - 1), 4),
                judge_rank=e.rank,
                taste=round(float(p), 4),
            )
            for e, p in zip(entries, chances, strict=True)
        ]
        moved = places_changed(entries, tuned)
        return tuned, TasteRanking(self.model.votes, self.model.items, self.weight, moved)


def places_changed(before: Sequence[DigestEntry], after: Sequence[DigestEntry]) -> int:
    """Entries whose place in their category (best first, ties by id) differs between two rankings."""

    def places(entries: Sequence[DigestEntry]) -> dict[str, int]:
        by_category: dict[str, list[DigestEntry]] = defaultdict(list)
        for entry in entries:
            by_category[entry.category].append(entry)
        out = {}
        for group in by_category.values():
            for place, entry in enumerate(sorted(group, key=lambda e: (-e.rank, e.item.id))):
                out[entry.item.id] = place
        return out

    old, new = places(before), places(after)
    return sum(1 for item_id, place in new.items() if old.get(item_id) != place)


def retuned(
    entries: Sequence[DigestEntry], tuner: Tuner | None
) -> tuple[Sequence[DigestEntry], TasteRanking | None]:
    """The entries as they are (no tuner: today's ranking, untouched) or retuned by the learned model."""
    if tuner is None:
        return entries, None
    return tuner.retune(entries)


def load_tuner(engine: Engine, config: FeedbackConfig, embeddings: EmbeddingCache) -> Tuner | None:
    """The learned ranking for a run, from every stored vote; None when it is off or below the minimum
    (then nothing is embedded and the ranking is exactly the judge's)."""
    if not config.ranking or config.ranking_weight == 0:
        return None
    all_votes = votes(engine)
    if not enough(labels(all_votes), config.ranking_min_votes):
        return None
    stored = items_by_id(engine, sorted({v.item_id for v in all_votes}))
    embed = embedder_for(embeddings)
    model = train(all_votes, stored, embed, min_votes=config.ranking_min_votes)
    return None if model is None else Tuner(model, embed, config.ranking_weight)


def run_tuner(engine: Engine, config: FeedbackConfig) -> Tuner | None:
    """`load_tuner` over the shared e5 model and the store's embedding cache (the classifier's vectors)."""
    from digestbot.agents.embedding import shared_embedder
    from digestbot.store.cache import ResultCache

    return load_tuner(engine, config, EmbeddingCache(shared_embedder(), ResultCache(engine)))
