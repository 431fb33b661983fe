from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from digestbot.domain import Item, SourceName, Window
from digestbot.ingest import SourceReport, ingest
from digestbot.settings import ArxivConfig
from digestbot.sources.arxiv import ArxivSource
from digestbot.sources.base import FetchLog, SourceError
from digestbot.store import ItemStore, UpsertCounts
from digestbot.testing.arxiv_server import FakeArxivServer, synthetic_entries

WINDOW = Window(datetime(2025, 11, 17, tzinfo=UTC), datetime(2025, 11, 24, tzinfo=UTC))


class ListSource:
    """A `Source` that yields given items, logs given warnings/errors, then optionally raises."""

    def __init__(
        self,
        name: SourceName,
        items: Sequence[Item],
        *,
        raises: Exception | None = None,
        warnings: Sequence[str] = (),
        errors: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.items = items
        self.raises = raises
        self.warnings = warnings
        self.errors = errors
        self.windows: list[Window] = []

    def fetch(self, window: Window, log: FetchLog) -> Iterator[Item]:
        self.windows.append(window)
        for message in self.warnings:
            log.warn(message)
        for message in self.errors:
            log.error(message)
        yield from self.items
        if self.raises is not None:
            raise self.raises


class Ticker:
    """A monotonic timer that advances 1.5 s per reading."""

    def __init__(self) -> None:
        self.value = 0.0

    def __call__(self) -> float:
        self.value += 1.5
        return self.value


@pytest.fixture
def store(tmp_path):
    with ItemStore(f"sqlite:///{tmp_path / 'store.sqlite'}") as opened:
        yield opened


@pytest.fixture
def three_sources(make_item):
    arxiv = ListSource(SourceName.ARXIV, [make_item(f"arxiv:2511.0000{n}") for n in range(3)])
    qiita = ListSource(
        SourceName.QIITA,
        [make_item("qiita:aaaaaaaaaaaaaaaaaaaa")],
        raises=SourceError("127.0.0.1:9/tags/LLM/feed: connection refused"),
    )
    zenn = ListSource(
        SourceName.ZENN, [make_item("zenn:a"), make_item("zenn:b")], warnings=["topic nlp: empty"]
    )
    return arxiv, qiita, zenn


def test_failing_source_does_not_stop_the_others(store, three_sources):
    """A source raising SourceError is reported with its cause; the sources after it still run and store."""
    report = ingest(three_sources, store, WINDOW)

    failed = [(row.source, row.failure) for row in report.failed]
    # 6 stored: the item Qiita yielded before failing is kept too; Zenn, after it, still ran.
    expected = ([(SourceName.QIITA, "127.0.0.1:9/tags/LLM/feed: connection refused")], 6, [WINDOW])
    assert expected == (failed, store.count(), three_sources[2].windows)


def test_report_rows_count_each_source(store, three_sources):
    """Each source gets a row with fetched/new/updated/duplicates, warnings and errors."""
    report = ingest(three_sources, store, WINDOW, timer=Ticker())

    rows = [(r.source, r.fetched, r.counts, r.warnings, r.failed, r.duration) for r in report.rows]
    expected = [
        (SourceName.ARXIV, 3, UpsertCounts(new=3), [], False, 1.5),
        (SourceName.QIITA, 1, UpsertCounts(new=1), [], True, 1.5),
        (SourceName.ZENN, 2, UpsertCounts(new=2), ["topic nlp: empty"], False, 1.5),
    ]
    assert expected == rows
    assert UpsertCounts(new=6) == report.totals


def test_second_ingest_of_same_window_adds_nothing(store, three_sources):
    """Running the same sources again stores nothing new: everything is a duplicate."""
    ingest(three_sources, store, WINDOW)

    again = ingest(three_sources, store, WINDOW)

    expected = [UpsertCounts(duplicates=3), UpsertCounts(duplicates=1), UpsertCounts(duplicates=2)]
    assert expected == [row.counts for row in again.rows]


def test_unexpected_exception_is_recorded_with_its_type(store, make_item):
    """A bug inside a source (not a SourceError) fails only that source, naming the exception."""
    broken = ListSource(SourceName.ZENN, [], raises=KeyError("published"))
    fine = ListSource(SourceName.ARXIV, [make_item("arxiv:2511.00001")])

    report = ingest([broken, fine], store, WINDOW)

    expected = (["unexpected KeyError: 'published'"], 1)
    assert expected == ([row.failure for row in report.failed], store.count())


def test_partial_errors_do_not_fail_the_source(store, make_item):
    """Errors a source logs (one feed of five down) are reported, but the source is not failed."""
    qiita = ListSource(
        SourceName.QIITA, [make_item("qiita:aaaaaaaaaaaaaaaaaaaa")], errors=["tag RAG: HTTP 500"]
    )

    report = ingest([qiita], store, WINDOW)

    expected = (["tag RAG: HTTP 500"], [])
    assert expected == (report.rows[0].errors, report.failed)


def test_progress_is_reported_per_batch(store, make_item):
    """The callback sees each source start, every stored batch, and the end."""
    source = ListSource(SourceName.ZENN, [make_item(f"zenn:s{n}") for n in range(5)])
    seen: list[tuple[int, int, bool]] = []

    def on_progress(row: SourceReport) -> None:
        seen.append((row.fetched, row.new, row.done))

    ingest([source], store, WINDOW, on_progress=on_progress, batch_size=2)

    expected = [(0, 0, False), (2, 2, False), (4, 4, False), (5, 5, False), (5, 5, True)]
    assert expected == seen


def test_each_source_run_is_logged(store, three_sources):
    """Every source's run lands in the fetch-run log, with the failure cause for the failed one."""
    clock_times = iter(datetime(2025, 11, 24, 1, tzinfo=UTC) + timedelta(minutes=n) for n in range(6))

    ingest(three_sources, store, WINDOW, clock=lambda: next(clock_times))

    runs = store.recent_fetch_runs(10)
    logged = [(r.source, r.fetched, r.counts.new, r.failure, r.warnings, r.window) for r in runs]
    failure = "127.0.0.1:9/tags/LLM/feed: connection refused"
    expected = [
        (SourceName.ZENN, 2, 2, None, ("topic nlp: empty",), WINDOW),
        (SourceName.QIITA, 1, 1, failure, (), WINDOW),
        (SourceName.ARXIV, 3, 3, None, (), WINDOW),
    ]
    assert expected == logged


def test_each_arxiv_page_is_stored_and_handed_on_before_the_next_is_requested(store):
    """Pages stream: `on_batch` gets page 1 (10 papers) when the server has seen 1 request, and so on."""
    week = Window(datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC))  # synthetic span
    with FakeArxivServer(synthetic_entries(25)) as server:
        config = ArxivConfig(api_url=server.url, delay_seconds=0, page_size=10, timeout_seconds=5)
        seen: list[tuple[int, int, int]] = []

        def on_batch(batch: Sequence[Item]) -> None:
            seen.append((len(server.requests), len(batch), store.count()))

        ingest([ArxivSource(config)], store, week, on_batch=on_batch)

    assert [(1, 10, 10), (2, 10, 20), (3, 5, 25)] == seen
