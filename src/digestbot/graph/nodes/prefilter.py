"""Cheap keyword prefilter in front of the classifier: drop what is clearly off-topic, count why.

Rules, reported by name in `PrefilterResult.dropped`:

- ``excluded_title``: the title contains one of `pipeline.prefilter.exclude`.
- ``no_keyword``: fewer than `min_keyword_hits` distinct terms from the categories' keywords and
  `pipeline.prefilter.interests` occur in the title, the text and the tags.
- ``no_interest``: with `require_interest` (the default), none of the team's `interests` (the
  LLM-ness of an item: "LLM", "language model", "生成AI", …) occurs. Category keywords alone
  ("image", "attention", "benchmark") also match the many non-LLM papers of cs.CV/cs.LG.

`enabled = false` passes every item through and reports nothing dropped.

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
from digestbot.graph.state import RunState
from digestbot.settings import Category, PrefilterConfig

EXCLUDED_TITLE = "excluded_title"
NO_KEYWORD = "no_keyword"
NO_INTEREST = "no_interest"


@dataclass(frozen=True)
class PrefilterResult:
    kept: list[Item]
    dropped: dict[str, int] = field(default_factory=dict)  # rule -> how many items it dropped


@lru_cache(maxsize=8)
def _matchers(
    categories: tuple[Category, ...], config: PrefilterConfig
) -> tuple[TermMatcher, TermMatcher, TermMatcher]:
    """(topic terms, interest terms, exclude terms), compiled once per configuration."""
    topic = TermMatcher([*(term for cat in categories for term in cat.keywords), *config.interests])
    return topic, TermMatcher(config.interests), TermMatcher(config.exclude)


def _enough_hits(matcher: TermMatcher, text: str, needed: int) -> bool:
    seen: set[str] = set()
    for key in matcher.keys(text):
        seen.add(key)
        if len(seen) >= needed:
            return True
    return False


def prefilter(
    items: Sequence[Item], categories: Sequence[Category], config: PrefilterConfig
) -> PrefilterResult:
    """Split `items` into the ones worth classifying and per-rule drop counts. Pure; order kept."""
    if not config.enabled:
        return PrefilterResult(kept=list(items))
    topic, interests, exclude = _matchers(tuple(categories), config)
    kept: list[Item] = []
    dropped: Counter[str] = Counter()
    for item in items:
        text = normalize(f"{item.title}\n{item.text}\n{' / '.join(item.tags)}")
        if len(exclude) and next(exclude.keys(normalize(item.title)), None) is not None:
            dropped[EXCLUDED_TITLE] += 1
        elif config.min_keyword_hits and not _enough_hits(topic, text, config.min_keyword_hits):
            dropped[NO_KEYWORD] += 1
        elif config.require_interest and len(interests) and next(interests.keys(text), None) is None:
            dropped[NO_INTEREST] += 1
        else:
            kept.append(item)
    return PrefilterResult(kept=kept, dropped=dict(dropped))


def prefilter_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Graph node: `items` -> `candidates`, and the per-rule counts for the run report."""
    ctx = runtime.context
    result = prefilter(state.get("items", []), ctx.categories, ctx.settings.app.pipeline.prefilter)
    return {"candidates": result.kept, "prefilter_dropped": result.dropped}
