"""`digestbot eval --corrections`: the classifier measured on the team's category corrections.

Each item the team moved with 「カテゴリを直す」 is a labeled example: the item's stored text, the
label the team's category (its latest correction). The classifier is measured the way a run uses
it, with the other corrections as its few-shot examples (the prompt's `corrections`, the offline
classifier's extra prototypes) and honestly: leave-one-out, an item's own correction is never among
the examples it is scored with (nor the override that keeps a corrected item in the team's
category). The same items without any example are the comparison.

The set is biased by construction: every item in it is one the classifier once got wrong, so the
figures are not the classifier's accuracy on a week, only what the corrections teach it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from digestbot.agents.base import AgentError, Agents
from digestbot.corrections import CorrectionExamples, as_examples
from digestbot.domain import Item
from digestbot.evaluation import accuracy, macro_f1
from digestbot.evaluation_loo import bootstrap_macro_f1, wilson
from digestbot.settings import Category, Settings
from digestbot.store.corrections import CategoryCorrection, latest_category_corrections
from digestbot.store.taste import items_by_id

FAILED = "(failed)"  # the prediction of an item the classifier returned an error for
MakeAgents = Callable[[CorrectionExamples], Agents]


@dataclass(frozen=True)
class Case:
    item: Item
    wrong: str  # what the classifier had said when the team corrected it
    right: str  # the team's category: the label


@dataclass(frozen=True)
class Score:
    """One condition's figures: accuracy (Wilson 95 %) and macro-F1 (bootstrap 95 %)."""

    correct: int
    n: int
    accuracy: float
    accuracy_ci: tuple[float, float]
    macro_f1: float
    macro_f1_ci: tuple[float, float]
    predictions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "correct": self.correct,
            "n": self.n,
            "accuracy": self.accuracy,
            "accuracy_ci": list(self.accuracy_ci),
            "macro_f1": self.macro_f1,
            "macro_f1_ci": list(self.macro_f1_ci),
        }


@dataclass(frozen=True)
class CorrectionsReport:
    cases: tuple[Case, ...]
    with_examples: Score  # leave-one-out: the other corrections as few-shot examples
    without: Score  # no corrections at all
    examples: int  # the few-shot examples each item was scored with (at most [corrections] examples)
    skipped: int  # corrections whose item is no longer stored (only the title is left)
    model: str
    pairs: dict[tuple[str, str], tuple[int, int, int]] = field(default_factory=dict)
    # (wrong, right) -> (n, right with the examples, right without)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": len(self.cases),
            "skipped": self.skipped,
            "examples": self.examples,
            "model": self.model,
            "with_examples": self.with_examples.to_dict(),
            "without": self.without.to_dict(),
            "pairs": [
                {"wrong": w, "right": r, "n": n, "right_with_examples": a, "right_without": b}
                for (w, r), (n, a, b) in self.pairs.items()
            ],
            "items": [
                {"id": c.item.id, "wrong": c.wrong, "right": c.right, "with_examples": p, "without": q}
                for c, p, q in zip(
                    self.cases, self.with_examples.predictions, self.without.predictions, strict=True
                )
            ],
        }


def _useful(rows: Sequence[CategoryCorrection], known: set[str]) -> list[CategoryCorrection]:
    return [c for c in rows if c.new_category in known and c.new_category != c.old_category]


def labeled_cases(engine: Engine, categories: Sequence[Category]) -> tuple[list[Case], int]:
    """Every corrected item (latest correction, to a configured category) whose item is stored."""
    found = _useful(latest_category_corrections(engine), {c.id for c in categories})
    stored = items_by_id(engine, [c.item_id for c in found])
    cases = [Case(stored[c.item_id], c.old_category, c.new_category) for c in found if c.item_id in stored]
    return cases, len(found) - len(cases)


def leave_one_out_sets(
    cases: Sequence[Case], pool: CorrectionExamples, limit: int
) -> list[tuple[CorrectionExamples, list[int]]]:
    """Group the cases by their few-shot set: the newest `limit` examples of `pool` other than the
    case's own. Only the few newest items have a set of their own; the rest share one (one call)."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, case in enumerate(cases):
        shown = [e for e in pool.examples if e.item_id != case.item.id][: max(limit, 0)]
        groups.setdefault(tuple(e.item_id for e in shown), []).append(index)
    by_id = {e.item_id: e for e in pool.examples}
    return [(CorrectionExamples(tuple(by_id[i] for i in ids)), members) for ids, members in groups.items()]


async def _predict(agents: Agents, items: Sequence[Item], categories: Sequence[Category]) -> list[str]:
    results = await agents.classify(items, categories)
    return [FAILED if isinstance(r, AgentError) else r.primary for r in results]


def score(gold: Sequence[str], predicted: Sequence[str], categories: Sequence[Category]) -> Score:
    labels = [c.id for c in categories if c.id in set(gold)]
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    return Score(
        correct=correct,
        n=len(gold),
        accuracy=accuracy(gold, predicted),
        accuracy_ci=wilson(correct, len(gold)),
        macro_f1=macro_f1(gold, predicted, labels),
        macro_f1_ci=bootstrap_macro_f1(gold, predicted, labels),
        predictions=tuple(predicted),
    )


async def evaluate_corrections(
    settings: Settings, engine: Engine, make_agents: MakeAgents, *, now: datetime
) -> CorrectionsReport | None:
    """Score the classifier on the corrections (None: no usable correction is stored)."""
    categories = settings.categories
    cases, skipped = labeled_cases(engine, categories)
    if not cases:
        return None
    config = settings.app.corrections
    recent = latest_category_corrections(engine, since=now - timedelta(days=config.examples_days))
    # One more than shown: an item among the newest is replaced by the next one, as if not corrected.
    pool = CorrectionExamples(
        as_examples(engine, _useful(recent, {c.id for c in categories})[: config.examples + 1])
    )
    with_examples = [""] * len(cases)
    sets = leave_one_out_sets(cases, pool, config.examples)
    for examples, members in sets:
        predicted = await _predict(make_agents(examples), [cases[i].item for i in members], categories)
        for i, p in zip(members, predicted, strict=True):
            with_examples[i] = p
    plain_agents = make_agents(CorrectionExamples())
    without = await _predict(plain_agents, [c.item for c in cases], categories)
    gold = [c.right for c in cases]
    pairs: Counter[tuple[str, str]] = Counter((c.wrong, c.right) for c in cases)
    fixed = Counter((c.wrong, c.right) for c, p in zip(cases, with_examples, strict=True) if p == c.right)
    fixed_plain = Counter((c.wrong, c.right) for c, p in zip(cases, without, strict=True) if p == c.right)
    return CorrectionsReport(
        cases=tuple(cases),
        with_examples=score(gold, with_examples, categories),
        without=score(gold, without, categories),
        examples=max(len(examples.examples) for examples, _ in sets),
        skipped=skipped,
        model=plain_agents.usage.model,
        pairs={pair: (n, fixed[pair], fixed_plain[pair]) for pair, n in pairs.most_common()},
    )
