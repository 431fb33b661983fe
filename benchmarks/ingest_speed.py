"""Ingest speed: 10,000 arXiv entries fetched, parsed, normalized, deduplicated and stored.

Runs in the child process against the parent's fake arXiv server (delay 0: the etiquette floor is
measured in the week run, not here). The same bytes are downloaded once more and parsed with lxml
alone, which is the floor any Python ingest of this feed has; the stages in between (the `arxiv`
package's entry parsing, our normalization, the store upsert) are timed on their own too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from arxiv import _feed
from lxml import etree  # type: ignore[import-untyped]

from digestbot.domain import Window
from digestbot.ingest import ingest
from digestbot.settings import ArxivConfig
from digestbot.sources.arxiv import ArxivSource, build_query, item_from_result
from digestbot.store import ItemStore

PAGE = 2000
T = TypeVar("T")


def _best(runs: int, work: Callable[[], T]) -> tuple[float, T]:
    """The fastest of `runs` timings (the others only warm caches), and the last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    assert result is not None
    return best, result


def download(config: ArxivConfig, window: Window) -> list[bytes]:
    """Every page of the window's query, as the arxiv client asks for it."""
    pages: list[bytes] = []
    query = build_query(config, window)
    total, start = None, 0
    with httpx.Client(timeout=60) as client:
        while total is None or start < total:
            params: dict[str, str | int] = {
                "search_query": query,
                "id_list": "",
                "sortBy": "submittedDate",
                "sortOrder": "descending",
                "start": start,
                "max_results": PAGE,
            }
            body = client.get(config.api_url, params=params).content
            if total is None:
                found = re.search(rb"<opensearch:totalResults[^>]*>(\d+)", body)
                total = int(found.group(1)) if found else 0
            pages.append(body)
            start += PAGE
    return pages


def measure(window: Window, api_url: str, data_dir: str) -> dict[str, Any]:
    config = ArxivConfig(api_url=api_url, page_size=PAGE, delay_seconds=0.0)
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pages = download(config, window)
    download_seconds = time.perf_counter() - started
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)
    raw_seconds, _ = _best(3, lambda: [etree.fromstring(page, parser=parser) for page in pages])
    feed_seconds, results = _best(3, lambda: [r for page in pages for r in _feed.parse(page).results])
    normalize_seconds, items = _best(3, lambda: [item_from_result(r) for r in results])

    def store_once() -> int:
        path = folder / "upsert-only.sqlite"
        path.unlink(missing_ok=True)
        with ItemStore(f"sqlite:///{path}") as store:
            return store.upsert(items).new

    store_seconds, _ = _best(3, store_once)
    path = folder / "ingest.sqlite"
    path.unlink(missing_ok=True)
    with ItemStore(f"sqlite:///{path}") as store:
        begun = time.perf_counter()
        report = ingest([ArxivSource(config)], store, window)
        ingest_seconds = time.perf_counter() - begun
        stored = store.count()
    row = report.rows[0]
    served = len(results)
    return {
        "entries": served,
        "stored": stored,
        "new": row.new,
        "updated": row.updated,
        "duplicates": row.duplicates,
        "pages": len(pages),
        "bytes": sum(len(p) for p in pages),
        "download_seconds": round(download_seconds, 3),
        "raw_parse_seconds": round(raw_seconds, 4),
        "feed_parse_seconds": round(feed_seconds, 4),
        "normalize_seconds": round(normalize_seconds, 4),
        "store_seconds": round(store_seconds, 4),
        "ingest_seconds": round(ingest_seconds, 3),
        "entries_per_second": round(served / ingest_seconds),
        "raw_parse_entries_per_second": round(served / raw_seconds),
        "ingest_over_raw_parse": round(ingest_seconds / raw_seconds, 1),
        "failure": row.failure,
    }
