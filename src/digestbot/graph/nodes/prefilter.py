"""Cheap keyword prefilter in front of the classifier: drop what is clearly off-topic, count why.

Rules, reported by name in `PrefilterResult.dropped`:

- ``excluded_title``: the title contains one of `pipeline.prefilter.exclude`.
- ``no_keyword``: fewer than `min_keyword_hits` distinct terms from the categories' keywords and
  `pipeline.prefilter.interests` occur in the title, the text and the tags.
- ``no_interest``: with `require_interest` (the default), none of the team's `interests` (the
  LLM-ness of an item: "LLM", "language model", "生成AI", …) occurs. Category keywords alone
  ("image", "attention", "benchmark") also match the many non-LLM papers of cs.CV/cs.LG.

`enabled = false` passes every item through and reports nothing dropped. A watched item (`[watch]`,
found by the node before this one) always passes.

Qiita and Zenn items get no lower threshold. Their feed tag or topic is in `item.tags`, and tags are
matched like text, so an article from the ``LLM`` or ``RAG`` feed passes on its tag alone. An article
from a broad feed (``機械学習``, ``nlp``) still needs one LLM-related term in its title or excerpt.
Terms match as in the offline classifier (whole words for ASCII, ``long context`` = ``long-context``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from langgraph.runtime import Runtime

from digestbot.agents.offline_text import TermMatcher, normalize
from digestbot.domain import Item
from digestbot.graph.context import RunContext
from digestbot.graph.state import ItemResult, RunState
from digestbot.settings import Category, PrefilterConfig

EXCLUDED_TITLE = "excluded_title"
NO_KEYWORD = "no_keyword"
NO_INTEREST = "no_interest"


@dataclass(frozen=True)
class PrefilterResult:
    kept: list[Item]
    dropped: dict[str, int] = field(default_factory=dict)  # rule -> how many items it dropped
    dropped_items: list[tuple[str, str]] = field(default_factory=list)  # (item id, "rule: why"), in order


@lru_cache(maxsize=8)
def _matchers(
    categories: tuple[Category, ...], config: PrefilterConfig
) -> tuple[TermMatcher, TermMatcher, TermMatcher]:
    """(topic terms, interest terms, exclude terms), compiled once per configuration."""
    topic = TermMatcher([*(term for cat in categories for term in cat.keywords), *config.interests])
    return topic, TermMatcher(config.interests), TermMatcher(config.exclude)


def _hits(matcher: TermMatcher, text: str, needed: int) -> int:
    """Distinct terms found, counting no further than `needed`."""
    seen: set[str] = set()
    for key in matcher.keys(text):
        seen.add(key)
        if len(seen) >= needed:
            break
    return len(seen)


def _why(
    item: Item, text: str, matchers: tuple[TermMatcher, TermMatcher, TermMatcher], config: PrefilterConfig
) -> str | None:
    """ "rule: reason" when a rule drops the item, else None."""
    topic, interests, exclude = matchers
    if len(exclude) and (term := next(exclude.keys(normalize(item.title)), None)) is not None:
        return f"{EXCLUDED_TITLE}: the title contains the excluded term {term!r}"
    needed = config.min_keyword_hits
    if needed and (hits := _hits(topic, text, needed)) < needed:
        return f"{NO_KEYWORD}: {hits} of the {needed} topic terms needed"
    if config.require_interest and len(interests) and next(interests.keys(text), None) is None:
        return f"{NO_INTEREST}: none of the team's interests (pipeline.prefilter.interests)"
    return None


def prefilter(
    items: Sequence[Item], categories: Sequence[Category], config: PrefilterConfig
) -> PrefilterResult:
    """Split `items` into the ones worth classifying and per-rule drop counts. Pure; order kept."""
    if not config.enabled:
        return PrefilterResult(kept=list(items))
    matchers = _matchers(tuple(categories), config)
    kept: list[Item] = []
    dropped: Counter[str] = Counter()
    named: list[tuple[str, str]] = []
    for item in items:
        text = normalize(f"{item.title}\n{item.text}\n{' / '.join(item.tags)}")
        why = _why(item, text, matchers, config)
        if why is None:
            kept.append(item)
        else:
            dropped[why.partition(":")[0]] += 1
            named.append((item.id, why))
    return PrefilterResult(kept=kept, dropped=dict(dropped), dropped_items=named)


def prefilter_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Graph node: `items` -> `candidates`, and the per-rule counts for the run report."""
    ctx = runtime.context
    items, watched = state.get("items", []), state.get("watched", {})
    unwatched = [item for item in items if item.id not in watched]  # watched items always pass
    result = prefilter(unwatched, ctx.categories, ctx.settings.app.pipeline.prefilter)
    named: list[ItemResult] = [
        {"item_id": item_id, "stage": "prefilter", "status": "dropped", "detail": why}
        for item_id, why in result.dropped_items
    ]
    passed = {item.id for item in result.kept}
    kept = [item for item in items if item.id in watched or item.id in passed]
    return {"candidates": kept, "prefilter_dropped": result.dropped, "prefiltered": named}
