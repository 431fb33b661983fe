"""Run sources into the store: batch by batch, one source's failure never stopping the others.

Batches stream: a batch ends at `batch_size` items or where the source's page ends (arXiv's 3-s pause
between requests comes next), and `on_batch` gets each stored batch before the source fetches on,
so a consumer (the embedding warm-up, `warmup.py`) works while the source waits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from digestbot.domain import Item, SourceName, Window
from digestbot.settings import Settings
from digestbot.sources.base import FetchLog, Source, SourceError
from digestbot.store.items import Clock, ItemStore, UpsertCounts, utc_now

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500


@dataclass
class SourceReport:
    """One source's part of an ingest run; updated as batches land (the progress callback sees it)."""

    source: SourceName
    fetched: int = 0
    new: int = 0
    updated: int = 0
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failure: str | None = None  # why the whole source failed; None when it completed
    duration: float = 0.0  # seconds
    done: bool = False
    cut_off: int = 0  # entries the source had but did not serve (FetchLog.cut_off)
    waiting: str = ""  # what the source waits for right now ("arXiv: … waiting 5 s (retry 2/4)")

    @property
    def failed(self) -> bool:
        return self.failure is not None

    @property
    def counts(self) -> UpsertCounts:
        return UpsertCounts(self.new, self.updated, self.duplicates)

    def add(self, fetched: int, counts: UpsertCounts) -> None:
        self.fetched += fetched
        self.new += counts.new
        self.updated += counts.updated
        self.duplicates += counts.duplicates


@dataclass
class IngestReport:
    window: Window
    rows: list[SourceReport] = field(default_factory=list)

    @property
    def failed(self) -> list[SourceReport]:
        """The sources that failed entirely (empty when all completed)."""
        return [row for row in self.rows if row.failed]

    @property
    def totals(self) -> UpsertCounts:
        total = UpsertCounts()
        for row in self.rows:
            total += row.counts
        return total


ProgressCallback = Callable[[SourceReport], None]
BatchCallback = Callable[[Sequence[Item]], None]


def ingest(
    sources: Sequence[Source],
    store: ItemStore,
    window: Window,
    *,
    on_progress: ProgressCallback | None = None,
    on_batch: BatchCallback | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    clock: Clock = utc_now,
    timer: Callable[[], float] = time.monotonic,
) -> IngestReport:
    """Fetch each source for `window` and upsert what it yields, in batches; record each run.

    A source that raises (`SourceError`, or any bug inside it) is recorded with the cause, keeps the
    items it yielded before failing, and the next source runs. A store failure (`StoreError`) is not
    a source failure and propagates. `on_batch` sees each batch once it is stored, in order.
    """
    report = IngestReport(window)
    notify = on_progress or (lambda _row: None)
    for source in sources:
        row = SourceReport(source.name)
        report.rows.append(row)
        notify(row)
        started, start_tick = clock(), timer()
        fetch_log = FetchLog(source.name, on_wait=_shows_waiting(row, notify))
        for batch in _batches(source, window, fetch_log, batch_size, row):
            row.add(len(batch), store.upsert(batch))
            row.waiting = ""
            notify(row)
            if on_batch is not None:
                on_batch(batch)
        row.warnings, row.errors = list(fetch_log.warnings), list(fetch_log.errors)
        row.cut_off = fetch_log.cut_off
        row.duration, row.done, row.waiting = timer() - start_tick, True, ""
        store.record_fetch_run(
            source.name,
            window,
            row.counts,
            warnings=row.warnings,
            errors=row.errors,
            started=started,
            finished=clock(),
            failure=row.failure,
            fetched=row.fetched,
        )
        notify(row)
    return report


def _shows_waiting(row: SourceReport, notify: ProgressCallback) -> Callable[[str], None]:
    def waiting(message: str) -> None:
        row.waiting = message
        notify(row)

    return waiting


def _batches(
    source: Source, window: Window, fetch_log: FetchLog, size: int, row: SourceReport
) -> Iterator[list[Item]]:
    """The source's items in lists of `size`, or shorter where a page ends (`FetchLog.last_of_page`);
    a failure ends the stream and lands in `row.failure`.

    Only exceptions raised by the source itself are caught: the consumer's (store) errors pass through.
    """
    batch: list[Item] = []
    try:
        for item in source.fetch(window, fetch_log):
            batch.append(item)
            if fetch_log.take_page_end() or len(batch) >= size:
                yield batch
                batch = []
    except SourceError as exc:
        row.failure = str(exc) or type(exc).__name__
    except Exception as exc:  # a bug in one source must not cost the others their run
        log.exception("source %s crashed", source.name)
        row.failure = f"unexpected {type(exc).__name__}: {exc}"
    if batch:
        yield batch


def fetch_window(
    settings: Settings,
    store: ItemStore,
    window: Window,
    *,
    names: Sequence[SourceName] | None = None,
    on_progress: ProgressCallback | None = None,
    on_batch: BatchCallback | None = None,
) -> IngestReport:
    """Build the configured sources around one shared HTTP client and ingest `window` into `store`."""
    from digestbot.sources import build_sources
    from digestbot.sources.http import HttpFetcher
    from digestbot.store import HttpValidatorCache

    with HttpFetcher(settings.app.http, cache=HttpValidatorCache(store.engine)) as http:
        sources = build_sources(settings, names=names, http=http)
        return ingest(sources, store, window, on_progress=on_progress, on_batch=on_batch)
