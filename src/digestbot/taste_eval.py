"""`digestbot feedback --eval`: the learned ranking against the untuned one, on a time split of the votes.

The voted items (a clear net vote each, `taste.labels`) are ordered by their latest vote; the model is
fitted on the oldest (`train` of them, default 70 %) and predicts the newest: liked when p ≥ 0.5.
The untuned ranking is the judge's rank alone, with the like/dislike cut at the threshold that does
best on the same training items (the fairest cut for it). Both are scored by balanced accuracy (the
mean of the 👍 and 👎 recall, so a team that mostly clicks 👍 gains nothing from always saying 👍), with
95 % percentile intervals from 2,000 bootstrap resamples of the test items (seeded: the same votes
print the same figures), the difference paired on the same resamples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from digestbot.domain import Item
from digestbot.taste import MIN_PER_SIDE, Embed, Labeled, enough, fit

TRAIN_SHARE = 0.7
MIN_TRAIN = 10  # voted items to fit on (and MIN_PER_SIDE of each vote)
MIN_TEST_PER_SIDE = 3  # 👍 and 👎 items each among the newest: balanced accuracy needs both
RESAMPLES = 2000

Bools = NDArray[np.bool_]


@dataclass(frozen=True)
class Side:
    """One part of the split: how many items, 👍 and 👎, and the dates of their latest votes."""

    items: int
    liked: int
    first: datetime
    last: datetime

    @property
    def disliked(self) -> int:
        return self.items - self.liked


@dataclass(frozen=True)
class Score:
    balanced: float
    low: float
    high: float
    correct: int
    total: int


@dataclass(frozen=True)
class Evaluation:
    train: Side
    test: Side
    learned: Score
    untuned: Score
    difference: tuple[float, float, float]  # learned - untuned: value, low, high
    threshold: float  # the judge's rank from which the untuned ranking says 👍
    skipped: int  # voted items without a stored item or a judge's rank


@dataclass(frozen=True)
class TooFew:
    """Not enough votes to evaluate; `reason` says what is missing."""

    reason: str
    skipped: int = 0


def balanced_accuracy(truth: Bools, predicted: Bools) -> float:
    """Mean recall of 👍 and 👎 (both must be present)."""
    return float((predicted[truth].mean() + (~predicted[~truth]).mean()) / 2)


def best_threshold(ranks: Sequence[float], liked: Sequence[bool]) -> float:
    """The cut (a midpoint between two training ranks) with the best balanced accuracy; lowest on a tie."""
    values = np.asarray(ranks, dtype=np.float64)
    truth = np.asarray(liked, dtype=np.bool_)
    levels = np.unique(values)
    cuts = [levels[0] - 1.0, *((levels[:-1] + levels[1:]) / 2)]
    scored = [(balanced_accuracy(truth, values >= cut), -cut) for cut in cuts]
    return float(-max(scored)[1])


def _side(examples: Sequence[Labeled]) -> Side:
    return Side(len(examples), sum(e.liked for e in examples), examples[0].when, examples[-1].when)


def _scores(truth: Bools, predictions: Sequence[Bools]) -> tuple[list[Score], tuple[float, float, float]]:
    rng = np.random.default_rng(0)
    samples: list[list[float]] = [[] for _ in predictions]
    n = len(truth)
    for _ in range(RESAMPLES):
        pick = rng.integers(0, n, n)
        if truth[pick].all() or not truth[pick].any():
            continue
        for store, predicted in zip(samples, predictions, strict=True):
            store.append(balanced_accuracy(truth[pick], predicted[pick]))
    scores = [
        Score(
            balanced_accuracy(truth, predicted),
            float(np.percentile(sample, 2.5)),
            float(np.percentile(sample, 97.5)),
            int((predicted == truth).sum()),
            n,
        )
        for predicted, sample in zip(predictions, samples, strict=True)
    ]
    gaps = np.asarray(samples[0]) - np.asarray(samples[1])
    difference = (
        scores[0].balanced - scores[1].balanced,
        float(np.percentile(gaps, 2.5)),
        float(np.percentile(gaps, 97.5)),
    )
    return scores, difference


def evaluate(
    examples: Sequence[Labeled],
    items: Mapping[str, Item],
    judge_ranks: Mapping[str, float],
    embed: Embed,
    *,
    train: int | None = None,
) -> Evaluation | TooFew:
    """Fit on the `train` oldest voted items (default 70 %), score both rankings on the rest."""
    usable = [e for e in examples if e.item_id in items and e.item_id in judge_ranks]
    skipped = len(examples) - len(usable)
    count = round(len(usable) * TRAIN_SHARE) if train is None else min(train, len(usable))
    older, newer = usable[:count], usable[count:]
    if not enough(older, MIN_TRAIN):
        liked = sum(e.liked for e in older)
        need = f"at least {MIN_TRAIN}, with {MIN_PER_SIDE} 👍 and {MIN_PER_SIDE} 👎"
        return TooFew(f"{len(older)} older voted items to learn from ({liked} 👍), need {need}", skipped)
    later_liked = sum(e.liked for e in newer)
    if min(later_liked, len(newer) - later_liked) < MIN_TEST_PER_SIDE:
        need = f"{MIN_TEST_PER_SIDE} 👍 and {MIN_TEST_PER_SIDE} 👎"
        return TooFew(f"{len(newer)} newer voted items to test on ({later_liked} 👍), need {need}", skipped)
    model = fit(embed([items[e.item_id] for e in older]), [e.liked for e in older])
    chances = model.chance(embed([items[e.item_id] for e in newer]))
    threshold = best_threshold([judge_ranks[e.item_id] for e in older], [e.liked for e in older])
    truth = np.asarray([e.liked for e in newer], dtype=np.bool_)
    learned = np.asarray(chances >= 0.5, dtype=np.bool_)
    untuned = np.asarray([judge_ranks[e.item_id] >= threshold for e in newer], dtype=np.bool_)
    (learned_score, untuned_score), difference = _scores(truth, [learned, untuned])
    return Evaluation(
        _side(older), _side(newer), learned_score, untuned_score, difference, threshold, skipped
    )


def _dates(side: Side) -> str:
    return f"{side.first:%Y-%m-%d}..{side.last:%Y-%m-%d}"


def report_lines(result: Evaluation | TooFew, *, min_votes: int) -> list[str]:
    """What `digestbot feedback --eval` prints."""
    skipped = (
        f" ({result.skipped} voted items without a stored item or a posted judge's rank left out)"
        if result.skipped
        else ""
    )
    if isinstance(result, TooFew):
        return [f"too few votes to evaluate the learned ranking: {result.reason}{skipped}"]
    train, test = result.train, result.test
    lines = [
        f"time split: trained on the {train.items} oldest voted items ({_dates(train)}: "
        f"{train.liked} 👍, {train.disliked} 👎), tested on the {test.items} newest ({_dates(test)}: "
        f"{test.liked} 👍, {test.disliked} 👎){skipped}",
        f"{'':34}balanced accuracy  95 % bootstrap  correct",
    ]
    for name, score in (
        ("learned (votes, logistic regr.)", result.learned),
        (f"untuned (judge's rank ≥ {result.threshold:.2f})", result.untuned),
    ):
        interval = f"[{score.low:.2f}, {score.high:.2f}]"
        lines.append(f"{name:34}{score.balanced:<19.3f}{interval:<17}{score.correct}/{score.total}")
    value, low, high = result.difference
    lines.append(f"{'difference':34}{value:<+19.3f}[{low:+.2f}, {high:+.2f}]")
    if train.items < min_votes:
        lines.append(
            f"note: a run uses the learned ranking from {min_votes} voted items "
            f"([feedback] ranking_min_votes); this split trained on {train.items}"
        )
    return lines
