"""What a model's answer must be, exactly: the constrained output schemas and the checks in code.

The schemas sent to the model carry `enum`s of this run's category ids and of the batch's item ids
("1".."n"), the exact result count (`minItems` = `maxItems` = n) and the score ranges. OpenAI's
strict json_schema mode accepts `enum`, `minItems`/`maxItems` and `minimum`/`maximum`; other
providers (tool calling, local servers) may ignore some of them, so every answer is checked here
too, and what is wrong is said item by item for the one repair request.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol, TypeVar

from digestbot.agents.llm_output import output_schema
from digestbot.graph.state import BlurbBatch, Classification, ClassificationBatch, Verdict, VerdictBatch

SCORE_RANGE = (1, 5)
VERDICT_SCORES = ("relevance", "significance", "faithfulness", "japanese")


@lru_cache(maxsize=64)
def classification_function(category_ids: tuple[str, ...], size: int) -> dict[str, Any]:
    """The strict function dict for a batch of `size` items and these categories (cached)."""
    function = copy.deepcopy(output_schema(ClassificationBatch))
    results = function["parameters"]["properties"]["results"]
    results.update(minItems=size, maxItems=size)
    fields = results["items"]["properties"]
    fields["item_id"]["enum"] = [str(n) for n in range(1, size + 1)]
    fields["primary"]["enum"] = list(category_ids)
    fields["secondary"]["items"]["enum"] = list(category_ids)
    fields["secondary"]["maxItems"] = 2
    fields["confidence"].update(minimum=0, maximum=1)
    fields["relevance"].update(minimum=SCORE_RANGE[0], maximum=SCORE_RANGE[1])
    return function


@lru_cache(maxsize=1)
def verdict_function() -> dict[str, Any]:
    """The judge's strict function dict: every rubric score within 1..5."""
    function = copy.deepcopy(output_schema(Verdict))
    for name in VERDICT_SCORES:
        function["parameters"]["properties"][name].update(minimum=SCORE_RANGE[0], maximum=SCORE_RANGE[1])
    return function


def _in_range(value: float) -> bool:
    return SCORE_RANGE[0] <= value <= SCORE_RANGE[1]


def verdict_problems(verdict: Verdict) -> list[str]:
    """Scores outside 1..5, named (empty list = fine)."""
    low, high = SCORE_RANGE
    return [
        f"{name} {getattr(verdict, name)} is outside {low}..{high}"
        for name in VERDICT_SCORES
        if not _in_range(getattr(verdict, name))
    ]


def _position(item_id: str) -> str:
    text = item_id.strip()
    return text.removeprefix("item").strip() if text.lower().startswith("item") else text


def _answer_problems(answer: Classification, known: set[str]) -> list[str]:
    problems = []
    if answer.primary.strip().lower() not in known:
        problems.append(f"category {answer.primary.strip()[:40]!r} unknown")
    unknown = [c.strip()[:40] for c in answer.secondary if c.strip().lower() not in known]
    if unknown:
        problems.append(f"secondary {', '.join(repr(c) for c in unknown)} unknown")
    if not _in_range(answer.relevance):
        problems.append(f"relevance {answer.relevance} is outside 1..5")
    if not 0 <= answer.confidence <= 1:
        problems.append(f"confidence {answer.confidence:g} is outside 0..1")
    return problems


@dataclass(frozen=True)
class BatchCheck:
    """One batch answer against the batch: the usable answers and, per position, what was wrong."""

    valid: dict[str, Classification] = field(default_factory=dict)  # position ("1".."n") -> answer
    wrong: dict[str, str] = field(default_factory=dict)  # position -> what was wrong with it
    extra: tuple[str, ...] = ()  # answers for ids that were not asked
    category_ids: tuple[str, ...] = ()

    @property
    def problems(self) -> str:
        """Everything that was wrong, in one line for the repair request."""
        parts = [f"item {n}: {why}" for n, why in sorted(self.wrong.items(), key=lambda kv: int(kv[0]))]
        if any("unknown" in why for why in self.wrong.values()):
            parts.append(f"valid category ids: {', '.join(self.category_ids)}")
        return "; ".join([*parts, *self.extra])


def check_batch(batch: ClassificationBatch, size: int, category_ids: Sequence[str]) -> BatchCheck:
    """Which of the `size` items got exactly one usable answer; what is wrong with the others."""
    known = {c.lower() for c in category_ids}
    asked = [str(n) for n in range(1, size + 1)]
    if size == 1 and len(batch.results) == 1:
        answers = {"1": [batch.results[0]]}  # one item asked: whatever id the model wrote is it
    else:
        answers = {}
        for result in batch.results:
            answers.setdefault(_position(result.item_id), []).append(result)
    extra = tuple(
        f"id {key[:20]!r} was not asked (valid ids: 1..{size})"
        for key, found in answers.items()
        if key not in asked
        for _ in found
    )
    valid: dict[str, Classification] = {}
    wrong: dict[str, str] = {}
    for n in asked:
        found = answers.get(n, [])
        if not found:
            wrong[n] = "missing"
        elif len(found) > 1:
            wrong[n] = f"answered {len(found)} times"
        elif problems := _answer_problems(found[0], known):
            wrong[n] = "; ".join(problems)
        else:
            valid[n] = found[0]
    return BatchCheck(valid=valid, wrong=wrong, extra=extra, category_ids=tuple(category_ids))


def _batched(function: dict[str, Any], size: int) -> dict[str, Any]:
    """Exactly `size` results with item ids "1".."size"; returns the per-item properties to refine."""
    results = function["parameters"]["properties"]["results"]
    results.update(minItems=size, maxItems=size)
    fields: dict[str, Any] = results["items"]["properties"]
    fields["item_id"]["enum"] = [str(n) for n in range(1, size + 1)]
    return fields


@lru_cache(maxsize=64)
def blurb_batch_function(size: int) -> dict[str, Any]:
    """The summarizer's strict function dict for a batch of `size` items."""
    function = copy.deepcopy(output_schema(BlurbBatch))
    _batched(function, size)
    return function


@lru_cache(maxsize=64)
def verdict_batch_function(size: int) -> dict[str, Any]:
    """The judge's strict function dict for a batch of `size` items: ids, exact count, scores 1..5."""
    function = copy.deepcopy(output_schema(VerdictBatch))
    fields = _batched(function, size)
    for name in VERDICT_SCORES:
        fields[name].update(minimum=SCORE_RANGE[0], maximum=SCORE_RANGE[1])
    return function


class HasItemId(Protocol):
    item_id: str


A = TypeVar("A", bound=HasItemId)


def by_position(results: Sequence[A], size: int) -> tuple[dict[str, A], dict[str, str]]:
    """(position "1".."size" -> its one answer, position -> "missing" / "answered k times")."""
    if size == 1 and len(results) == 1:
        return {"1": results[0]}, {}
    answers: dict[str, list[A]] = {}
    for result in results:
        answers.setdefault(_position(result.item_id), []).append(result)
    found: dict[str, A] = {}
    wrong: dict[str, str] = {}
    for n in (str(k) for k in range(1, size + 1)):
        got = answers.get(n, [])
        if len(got) == 1:
            found[n] = got[0]
        else:
            wrong[n] = "missing" if not got else f"answered {len(got)} times"
    return found, wrong
