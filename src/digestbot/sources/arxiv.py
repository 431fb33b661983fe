"""arXiv API source: one date-window query through the `arxiv` package, with backoff and clear errors.

The `arxiv` client pages and spaces requests by `delay_seconds`; its own retries re-send at that
same fixed pace and ignore read timeouts, so they are off (`num_retries=0`) and this module retries
instead: exponential backoff (or the server's Retry-After), resuming at the offset already yielded.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

import arxiv
import requests

from digestbot.domain import Item, SourceName, Window
from digestbot.settings import ArxivConfig
from digestbot.sources.base import FetchLog, SourceError

ERROR_ID_PREFIX = "https://arxiv.org/api/errors#"
MIN_BACKOFF_SECONDS = 1.0  # first backoff when delay_seconds is smaller (loopback tests use 0)
MAX_BACKOFF_SECONDS = 120.0
MAX_RETRY_AFTER_SECONDS = 120.0  # a longer Retry-After fails the source instead of hanging the run

_EASTERN = ZoneInfo("America/New_York")
_ANNOUNCE_AT = clock_time(20, 0)
_ANNOUNCE_WEEKDAYS = frozenset({6, 0, 1, 2, 3})  # Sunday..Thursday (Monday is 0)

_VERSION = re.compile(r"v(\d+)$")
_ERROR_MARK = b"<id>" + ERROR_ID_PREFIX.encode()
_ERROR_SUMMARY = re.compile(rb"<summary[^>]*>(.*?)</summary>", re.DOTALL)
_TOTAL = re.compile(rb"<opensearch:totalResults[^>]*>\s*(\d+)")


# --- pure helpers -----------------------------------------------------------------------------------


def item_from_result(result: arxiv.Result) -> Item:
    """Normalize one `arxiv.Result`: versionless id and URL, collapsed whitespace, primary tag first."""
    short = result.entry_id.rpartition("arxiv.org/abs/")[2]
    match = _VERSION.search(short)
    base, version = (short[: match.start()], int(match.group(1))) if match else (short, None)
    primary = result.primary_category
    categories = result.categories
    tags = (primary, *(c for c in categories if c != primary)) if primary else tuple(categories)
    return Item(
        id=f"arxiv:{base}",
        source=SourceName.ARXIV,
        url=f"https://arxiv.org/abs/{base}",
        title=" ".join(result.title.split()),
        text=" ".join(result.summary.split()),
        published=result.published,
        updated=result.updated,
        authors=tuple(a.name for a in result.authors),
        language="en",
        tags=tags,
        version=version,
    )


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M")


def build_query(config: ArxivConfig, window: Window) -> str:
    """`(cat:a OR cat:b) AND (abs:"kw" OR …) AND submittedDate:[start TO last minute]` in UTC."""
    clauses = []
    if config.categories:
        clauses.append("(" + " OR ".join(f"cat:{c}" for c in config.categories) + ")")
    if config.keywords:
        clauses.append("(" + " OR ".join(f'abs:"{k.replace(chr(34), "")}"' for k in config.keywords) + ")")
    last = window.end - timedelta(microseconds=1)  # the API range is inclusive, the window is not
    clauses.append(f"submittedDate:[{_minute(window.start)} TO {_minute(last)}]")
    return " AND ".join(clauses)


def announcements_in(window: Window) -> tuple[datetime, ...]:
    """arXiv's scheduled announcements (Sun–Thu 20:00 US Eastern) inside the window, in UTC.

    Holidays are not known here; they only explain an empty result.
    """
    first = window.start.astimezone(_EASTERN).date()
    last = window.end.astimezone(_EASTERN).date()
    found = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        if day.weekday() in _ANNOUNCE_WEEKDAYS:
            moment = datetime.combine(day, _ANNOUNCE_AT, _EASTERN).astimezone(UTC)
            if window.contains(moment):
                found.append(moment)
    return tuple(found)


def _span(window: Window) -> str:
    return f"{window.start.astimezone(UTC):%Y-%m-%d %H:%M}–{window.end.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _error_summary(body: bytes) -> str:
    """The human text of an arXiv error feed (`<summary>` of the error entry)."""
    entry = body[body.index(_ERROR_MARK) :]
    match = _ERROR_SUMMARY.search(entry)
    if match:
        return " ".join(html.unescape(match.group(1).decode("utf-8", "replace")).split())
    fragment = entry[len(_ERROR_MARK) :].split(b"<", 1)[0].decode("utf-8", "replace")
    return fragment.replace("_", " ")


# --- the wire ------------------------------------------------------------------------------------------


class _ApiRejected(Exception):
    """The API answered with an error feed; `args[0]` is its message."""


class _Malformed(Exception):
    """A 200 answer that is not a whole arXiv feed (cut off, an HTML page); `args[0]` says what it was."""


class _WireSession(requests.Session):
    """The session the arxiv client sends through: adds a timeout, counts requests, reads error feeds."""

    def __init__(self, timeout: float | None, clock: Callable[[], float]) -> None:
        super().__init__()
        self.timeout = timeout
        self.clock = clock
        self.log: FetchLog | None = None
        self.total_results = 0  # the largest totalResults seen in this fetch
        self.retry_after: str | None = None
        self.last_request_at: float | None = None

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        if self.log is not None:
            self.log.requests += 1
        self.retry_after = None
        try:
            response = super().request(method, url, *args, **kwargs)
        finally:
            self.last_request_at = self.clock()
        self.retry_after = response.headers.get("Retry-After")
        body = response.content
        if _ERROR_MARK in body:  # HTTP 400 usually, but arXiv has sent error feeds with 200 too
            raise _ApiRejected(_error_summary(body))
        if response.status_code == 200:
            total = _TOTAL.search(body[:4096])
            if total is None or not body.rstrip().endswith(b"</feed>"):  # else read as "0 papers"
                kind = response.headers.get("Content-Type", "no content type")
                raise _Malformed(f"{len(body)} bytes of {kind}, {'cut off' if total else 'no arXiv feed'}")
            self.total_results = max(self.total_results, int(total.group(1)))
        return response


@dataclass(frozen=True)
class _Failure:
    cause: str  # "throttled us (HTTP 429)": reads after "arXiv API"
    advice: str = ""
    retry_after: float | None = None
    fatal: bool = True  # False: giving up keeps what was fetched and only warns


# --- the source ------------------------------------------------------------------------------------------


class ArxivSource:
    """Fetches the papers submitted in a window in the configured categories, newest first."""

    name = SourceName.ARXIV

    def __init__(
        self,
        config: ArxivConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._sleep = sleep
        self._clock = clock
        self._wire = _WireSession(config.timeout_seconds or None, clock)
        self._client = arxiv.Client(
            page_size=config.page_size, delay_seconds=config.delay_seconds, num_retries=0
        )
        separator = "&" if "?" in config.api_url else "?"
        self._client.query_url_format = (
            config.api_url.replace("{", "{{").replace("}", "}}") + separator + "{}"
        )
        # arxiv sets no request timeout and offers no hook for one; its session is the only seam.
        self._client._session = self._wire

    def fetch(self, window: Window, log: FetchLog) -> Iterator[Item]:
        """Yield the window's papers; retry throttling and outages; raise `SourceError` when it gives up."""
        search = arxiv.Search(
            query=build_query(self._config, window),
            max_results=self._config.max_results,
            sort_by=arxiv.SortCriterion.SubmittedDate,
            sort_order=arxiv.SortOrder.Descending,
        )
        self._wire.log, self._wire.total_results = log, 0
        yielded = failures = 0
        while True:
            try:
                for n, result in enumerate(self._client.results(search, offset=yielded), 1):
                    if n % self._config.page_size == 0:  # pages start at `yielded` (a resume too)
                        log.last_of_page()
                    yield item_from_result(result)
                    yielded += 1
                    failures = 0
            except _ApiRejected as exc:
                raise SourceError(f"arXiv API rejected the query: {exc.args[0]}") from None
            except _Malformed as exc:
                failure = _Failure(f"sent a malformed response ({exc.args[0]})", "try again later")
            except arxiv.UnexpectedEmptyPageError:
                failure = self._empty_page(yielded)
            except (arxiv.HTTPError, requests.RequestException) as exc:
                failure = self._classify(exc)
            else:
                if yielded == 0 or yielded >= self._expected():
                    break
                failure = self._empty_page(yielded)  # a resumed page came back empty
            failures += 1
            if failures > self._config.max_retries:
                self._give_up(failure, failures, yielded, log)
                return
            wait = self._backoff(failure, failures)
            log.waiting(
                f"arXiv: {failure.cause}, waiting {wait:.3g} s (retry {failures}/{self._config.max_retries})"
            )
            self._sleep(wait)
        if yielded == 0:
            self._warn_empty(window, log)
        self._warn_cut_off(yielded, log)

    def _classify(self, exc: Exception) -> _Failure:
        """A retryable failure, or `SourceError` straight away for answers a retry will not change."""
        later = "try again later"
        if isinstance(exc, arxiv.HTTPError):
            if exc.status == 429:
                return _Failure("throttled us (HTTP 429)", later, self._retry_after())
            if exc.status >= 500:
                return _Failure(f"unavailable (HTTP {exc.status})", later, self._retry_after())
            raise SourceError(
                f"arXiv API answered HTTP {exc.status} at {self._config.api_url}; check sources.arxiv.api_url"
            ) from None
        if isinstance(exc, requests.Timeout):
            seconds = f"{self._config.timeout_seconds:g}"
            return _Failure(f"timed out after {seconds} s", f"{later} or raise sources.arxiv.timeout_seconds")
        if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
            return _Failure(
                f"unreachable at {self._config.api_url} ({type(exc).__name__})",
                "check sources.arxiv.api_url and the network",
            )
        raise SourceError(
            f"arXiv API request failed ({type(exc).__name__}: {exc}); check sources.arxiv.api_url"
        ) from None

    def _expected(self) -> int:
        return min(self._wire.total_results, self._config.max_results)

    def _empty_page(self, yielded: int) -> _Failure:
        return _Failure(
            f"stopped returning results after {yielded} of {self._expected()} papers", fatal=False
        )

    def _retry_after(self) -> float | None:
        value = self._wire.retry_after
        if value is None or not value.strip().isdigit():
            return None  # an HTTP-date Retry-After falls back to exponential backoff
        seconds = float(value)
        if seconds > MAX_RETRY_AFTER_SECONDS:
            raise SourceError(f"arXiv API throttled us and asked us to wait {seconds:g} s; try again later")
        return seconds

    def _backoff(self, failure: _Failure, failures: int) -> float:
        """Retry-After if given, else exponential; never sooner than `delay_seconds` after a request."""
        if failure.retry_after is not None:
            wait = failure.retry_after
        else:
            base = max(self._config.delay_seconds, MIN_BACKOFF_SECONDS)
            wait = min(base * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
        last = self._wire.last_request_at
        since = self._clock() - last if last is not None else self._config.delay_seconds
        return max(wait, self._config.delay_seconds - since)

    def _give_up(self, failure: _Failure, failures: int, yielded: int, log: FetchLog) -> None:
        if not failure.fatal:
            log.warn(f"arXiv API {failure.cause} ({failures} tries); the digest may miss some papers")
            return
        got = f" (after {yielded} papers)" if yielded else ""
        raise SourceError(f"arXiv API {failure.cause} {failures} times in a row{got}; {failure.advice}")

    def _warn_cut_off(self, yielded: int, log: FetchLog) -> None:
        """Say so when `max_results` stopped the fetch short of what the query matches (never silent)."""
        total, limit = self._wire.total_results, self._config.max_results
        if yielded < limit or total <= yielded:
            return
        log.cut_off = total - yielded
        log.warn(
            f"arXiv: {total:,} papers match the query but max_results = {limit:,} stopped the fetch at "
            f"{yielded:,}; {total - yielded:,} were not fetched. Raise sources.arxiv.max_results (the API "
            "serves at most 30,000 per query) or narrow sources.arxiv.categories/keywords"
        )

    def _warn_empty(self, window: Window, log: FetchLog) -> None:
        if not announcements_in(window):
            log.warn(
                f"no arXiv announcements in this window (weekend/holiday) {_span(window)}: arXiv announces "
                "Sun–Thu 20:00 US Eastern, so there are no new papers to fetch"
            )
        else:
            log.warn(f"arXiv returned 0 papers for {_span(window)}; the API index may lag, try again later")
