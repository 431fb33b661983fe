"""Leave-one-out estimate of the offline classifier, hyperparameters chosen inside the loop.

The classifier is zero-shot (prototypes come from the categories file, never from labeled papers),
so the only thing the labels can tune is its few knobs: input length, the item's e5 prefix, the
keyword weight and the title vector's weight. For each held-out paper the knobs are chosen on the
other papers (best accuracy, then macro-F1, then the a-priori order of `GRID`), and the held-out
paper is classified with them.
The figures are therefore those of the whole procedure on a paper it did not choose its knobs on:
accuracy with a Wilson 95 % interval and macro-F1 with a bootstrap 95 % interval.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import product

from digestbot.agents.embedding import Kind
from digestbot.agents.offline_semantic import Evidence, SemanticClassifier, SemanticParams, decide
from digestbot.evaluation import LabeledPaper, accuracy, as_gold_label, macro_f1
from digestbot.settings import Category

WORDS: tuple[int, ...] = (16, 32, 64, 128)
KINDS: tuple[Kind, ...] = ("query", "passage")
KEYWORD_WEIGHTS: tuple[float, ...] = (0.0, 0.75, 1.5, 3.0)
TITLE_WEIGHTS: tuple[float, ...] = (0.0, 0.5)
BOOTSTRAP = 2000
SEED = 12


def grid(base: SemanticParams, words: Sequence[int] = WORDS) -> list[SemanticParams]:
    """Every combination of the knobs LOO chooses, the base's own values first (the a-priori tie-break)."""
    first = [base.words] if base.words in words else []
    order_words = first + [w for w in words if w != base.words]
    order_kinds = [base.item_kind, *(k for k in KINDS if k != base.item_kind)]
    order_weights = [base.keyword_weight, *(w for w in KEYWORD_WEIGHTS if w != base.keyword_weight)]
    order_titles = [base.title_weight, *(t for t in TITLE_WEIGHTS if t != base.title_weight)]
    return [
        replace(base, words=w, item_kind=k, keyword_weight=kw, title_weight=t)
        for w, k, kw, t in product(order_words, order_kinds, order_weights, order_titles)
    ]


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_macro_f1(
    gold: Sequence[str],
    predicted: Sequence[str],
    order: Sequence[str],
    rounds: int = BOOTSTRAP,
    seed: int = SEED,
) -> tuple[float, float]:
    """Percentile 95 % interval of macro-F1 over resamples of the papers (labels present in each resample)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible resample, not a secret
    n = len(gold)
    values = []
    for _ in range(rounds):
        picks = [rng.randrange(n) for _ in range(n)]
        g = [gold[i] for i in picks]
        p = [predicted[i] for i in picks]
        values.append(macro_f1(g, p, [label for label in order if label in set(g)]))
    values.sort()
    return (values[int(0.025 * rounds)], values[min(rounds - 1, int(0.975 * rounds))])


@dataclass(frozen=True)
class LooReport:
    papers: int
    correct: int
    accuracy: float
    accuracy_ci: tuple[float, float]
    macro_f1: float
    macro_f1_ci: tuple[float, float]
    chosen_all: SemanticParams  # the knobs the procedure picks on all papers (what ships)
    chosen_counts: dict[str, int]  # knobs -> how many folds chose them
    by_words: dict[int, float]  # LOO accuracy with the input length fixed (the other knobs chosen inside)
    predictions: list[str]


def knobs(params: SemanticParams) -> str:
    return (
        f"{params.words} words, {params.item_kind}, kw {params.keyword_weight}, title {params.title_weight}"
    )


def _score(
    rows: Sequence[str], gold: Sequence[str], indices: Sequence[int], labels: Sequence[str]
) -> tuple[float, float]:
    g = [gold[i] for i in indices]
    p = [rows[i] for i in indices]
    return (accuracy(g, p), macro_f1(g, p, [label for label in labels if label in set(g)]))


def _loo(
    predictions: Mapping[SemanticParams, list[str]],
    candidates: Sequence[SemanticParams],
    gold: Sequence[str],
    labels: Sequence[str],
) -> tuple[list[str], list[SemanticParams]]:
    n = len(gold)
    out: list[str] = []
    chosen: list[SemanticParams] = []
    for held in range(n):
        train = [i for i in range(n) if i != held]
        best = max(
            range(len(candidates)),
            key=lambda c: (*_score(predictions[candidates[c]], gold, train, labels), -c),
        )
        chosen.append(candidates[best])
        out.append(predictions[candidates[best]][held])
    return out, chosen


def leave_one_out(
    classifier: SemanticClassifier,
    categories: Sequence[Category],
    papers: Sequence[LabeledPaper],
    mapping: Mapping[str, Sequence[str]],
    words: Sequence[int] = WORDS,
) -> LooReport:
    """Embed every paper once per (input length, prefix), its title once per prefix; select over `grid`."""
    items = [paper.item() for paper in papers]
    gold = [paper.category_ja for paper in papers]
    labels = [label for label in mapping if label in set(gold)]
    candidates = grid(classifier.params, words)
    titles = sorted({p.title_weight for p in candidates})
    evidence: dict[tuple[int, Kind, float], list[Evidence]] = {
        (w, k, t): classifier.evidence(items, w, k, t) for w, k, t in product(words, KINDS, titles)
    }
    predictions: dict[SemanticParams, list[str]] = {}
    for params in candidates:
        rows = evidence[(params.words, params.item_kind, params.title_weight)]
        predictions[params] = [
            as_gold_label(decide(ev, categories, classifier.other, params).primary, g, mapping)
            for ev, g in zip(rows, gold, strict=True)
        ]
    predicted, chosen = _loo(predictions, candidates, gold, labels)
    everything = list(range(len(gold)))
    best_all = max(
        range(len(candidates)),
        key=lambda c: (*_score(predictions[candidates[c]], gold, everything, labels), -c),
    )
    by_words = {}
    for w in words:
        subset = [p for p in candidates if p.words == w]
        fixed, _ = _loo(predictions, subset, gold, labels)
        by_words[w] = accuracy(gold, fixed)
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    return LooReport(
        papers=len(gold),
        correct=correct,
        accuracy=correct / len(gold),
        accuracy_ci=wilson(correct, len(gold)),
        macro_f1=macro_f1(gold, predicted, labels),
        macro_f1_ci=bootstrap_macro_f1(gold, predicted, labels),
        chosen_all=candidates[best_all],
        chosen_counts=dict(Counter(knobs(p) for p in chosen).most_common()),
        by_words=by_words,
        predictions=predicted,
    )
