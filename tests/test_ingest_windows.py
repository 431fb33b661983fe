"""Feeds ingested for one window, then another: a 304 never hides the second window's articles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digestbot.domain import SourceName, Window
from digestbot.ingest import IngestReport, ingest
from digestbot.settings import HttpConfig, QiitaConfig, ZennConfig
from digestbot.sources.http import HttpFetcher
from digestbot.sources.qiita import QiitaSource
from digestbot.sources.zenn import ZennSource
from digestbot.store import HttpValidatorCache, ItemStore
from digestbot.testing.feed_builders import synthetic_qiita_items, synthetic_zenn_articles
from digestbot.testing.feed_server import FeedServer

NOW = datetime(2025, 11, 24, tzinfo=UTC)
THIS_WEEK = Window(NOW - timedelta(days=7), NOW)
LAST_WEEK = Window(NOW - timedelta(days=14), NOW - timedelta(days=7))
QIITA_FEED, ZENN_FEED = "/tags/llm/feed", "/topics/llm/feed"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    """One Qiita tag feed and one Zenn topic feed, each 20 entries spread over two weeks."""
    with FeedServer() as srv:
        srv.publish_qiita(synthetic_qiita_items(20, seed=5, end=NOW, days=14, tags=("LLM",)), tags=["LLM"])
        srv.publish_zenn(
            synthetic_zenn_articles(20, seed=6, end=NOW, days=14, topics=("llm",)), topics=["llm"]
        )
        yield srv


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ItemStore]:
    with ItemStore(f"sqlite:///{tmp_path / 'store.sqlite'}") as opened:
        yield opened


def run(server: FeedServer, store: ItemStore, window: Window) -> IngestReport:
    """One fetch run as `fetch_window` makes it: validators kept in the store across runs."""
    with HttpFetcher(HttpConfig(timeout_seconds=5), cache=HttpValidatorCache(store.engine)) as http:
        sources = [
            QiitaSource(QiitaConfig(base_url=server.base_url, tags=("LLM",)), http),
            ZennSource(ZennConfig(base_url=server.base_url, topics=("llm",), enrich_with_api=False), http),
        ]
        return ingest(sources, store, window)


def last_week_ids(server: FeedServer) -> set[str]:
    """The ids of the served feed entries published in LAST_WEEK (what a backfill must store)."""
    qiita = {f"qiita:{i['id']}" for i in server.qiita_items if LAST_WEEK.contains(_at(i["created_at"]))}
    zenn = {f"zenn:{a['slug']}" for a in server.zenn_articles if LAST_WEEK.contains(_at(a["published_at"]))}
    return qiita | zenn


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def test_backfill_after_another_window_gets_its_articles(server: FeedServer, store: ItemStore) -> None:
    """Last week fetched after this week (unchanged feeds, validators kept) stores last week's articles."""
    run(server, store, THIS_WEEK)
    run(server, store, LAST_WEEK)

    stored = {i.id for i in store.items_in_window(LAST_WEEK, sources=[SourceName.QIITA, SourceName.ZENN])}
    assert last_week_ids(server)
    assert last_week_ids(server) == stored


def test_second_window_still_uses_conditional_get(server: FeedServer, store: ItemStore) -> None:
    """The second run sends the first run's ETag and gets 304s: conditional GET still saves the bodies."""
    run(server, store, THIS_WEEK)
    report = run(server, store, LAST_WEEK)

    second = [r for path in (QIITA_FEED, ZENN_FEED) for r in server.requests_to(path)[1:]]
    expected = ([True, True], [0, 0])
    assert expected == (
        [bool(r.headers.get("if-none-match")) for r in second],
        [len(row.errors) for row in report.rows],
    )
