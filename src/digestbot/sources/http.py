"""One shared HTTP client for feeds and JSON APIs: timeouts, retries, conditional GET, typed errors.

Retries happen here and nowhere else: connection errors, timeouts, 429 and 5xx are retried with
exponential backoff, honouring `Retry-After` up to `HttpConfig.max_retry_after_seconds` (a longer wait
fails at once rather than hanging the run). Error messages name the host and path, never a header
value, so a token cannot leak through them.

A 304 means "your copy is current", so a feed's body is kept with its validators and parsed again on
a 304: every caller filters it for its own window (a 304 read as "nothing new" hid a backfill's entries).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import feedparser
import httpx

from digestbot.redaction import Scrubber
from digestbot.settings import HttpConfig
from digestbot.sources.base import SourceError
from digestbot.sources.encoding import replaced_warning, utf8_feed_body

logger = logging.getLogger(__name__)

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
_PARSE_HEADERS = ("content-type", "content-location", "content-language")  # what feedparser reads
_DETAIL_MAX = 200


class HttpError(SourceError):
    """A request failed for good. The message reads `host/path: cause`."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


@dataclass(frozen=True, slots=True)
class NotModified:
    """A conditional GET answered 304: nothing new since the remembered validators."""

    url: str


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed. `warning` is set when the feed was malformed but still gave entries."""

    url: str
    feed: Any  # feedparser's channel dict
    entries: list[Any]  # feedparser's entry dicts
    content: bytes  # the raw body, for sources that must read an element feedparser rewrites
    warning: str | None = None
    not_modified: bool = False  # the server answered 304: parsed from the body kept with the validators


KeptBody = tuple[bytes, Mapping[str, str]]  # a response's content and the headers its parse reads


class ValidatorCache(Protocol):
    """Where ETag / Last-Modified validators are remembered between requests (or runs), with the body
    they validate (`put` replaces both at once; validators put without a body drop the old one)."""

    def get(self, url: str) -> tuple[str | None, str | None] | None: ...

    def body(self, url: str) -> KeptBody | None: ...

    def put(self, url: str, etag: str | None, modified: str | None, body: KeptBody | None = None) -> None: ...


class MemoryValidatorCache:
    """The default `ValidatorCache`: lives as long as the fetcher."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[str | None, str | None]] = {}
        self._bodies: dict[str, KeptBody] = {}

    def get(self, url: str) -> tuple[str | None, str | None] | None:
        return self._data.get(url)

    def body(self, url: str) -> KeptBody | None:
        return self._bodies.get(url)

    def put(self, url: str, etag: str | None, modified: str | None, body: KeptBody | None = None) -> None:
        self._data[url] = (etag, modified)
        self._bodies.pop(url, None)
        if body is not None:
            self._bodies[url] = body


def describe_url(url: str | httpx.URL) -> str:
    """`qiita.com/tags/生成ai/feed`: host (and port) plus the decoded path, no scheme or query."""
    parts = urlsplit(str(url))
    host = parts.hostname or "?"
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{host}{unquote(parts.path)}"


def read_json(response: httpx.Response) -> Any:
    """The JSON body, or an `HttpError` saying the server sent something else."""
    try:
        return response.json()
    except ValueError as exc:
        ctype = response.headers.get("content-type", "no content-type")
        raise HttpError(
            f"{describe_url(response.url)}: response is not JSON ({ctype}; {exc})", url=str(response.url)
        ) from None


def feed_time(value: time.struct_time | None) -> datetime | None:
    """feedparser's `*_parsed` values are UTC struct_times; make them aware datetimes."""
    if value is None:
        return None
    return datetime(*value[:6], tzinfo=UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _plural(count: int) -> str:
    return f" after {count} retr{'y' if count == 1 else 'ies'}" if count else ""


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _transport_cause(exc: httpx.TransportError) -> str:
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({name})"
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed ({name}: {exc})"
    return f"connection broken ({name}: {exc})"


def _error_detail(response: httpx.Response) -> str:
    """The server's own error message when it sends JSON like Qiita's `{"message","type"}`."""
    if "json" not in response.headers.get("content-type", ""):
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, Mapping):
        message = body.get("message") or body.get("error")
        if isinstance(message, str) and message:
            return f" ({message[:_DETAIL_MAX]})"
    return ""


def _parse_headers(response: httpx.Response) -> dict[str, str]:
    """The response headers feedparser reads, names lower-cased: kept with the body for a 304."""
    return {name: response.headers[name] for name in _PARSE_HEADERS if name in response.headers}


def _bozo_reason(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    if exc is None:
        return "no feed elements found"
    return f"{type(exc).__name__}: {str(exc)[:_DETAIL_MAX]}"


class HttpFetcher:
    """Wraps one `httpx.Client` for every feed and API request of a run. Close it (or use `with`)."""

    def __init__(
        self,
        config: HttpConfig,
        *,
        cache: ValidatorCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._config = config
        self._cache: ValidatorCache = cache if cache is not None else MemoryValidatorCache()
        self._sleep = sleep
        self._now = now
        self._client = httpx.Client(
            timeout=httpx.Timeout(config.timeout_seconds),
            headers={"User-Agent": config.user_agent},
            follow_redirects=True,
        )

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = False,
    ) -> httpx.Response | NotModified:
        """GET with retries. `conditional`: send remembered validators; a 304 gives `NotModified`."""
        key = self._key(url, params)
        response = self._send(url, params, self._headers(key, headers, conditional))
        if response.status_code == 304:
            return NotModified(url)
        if conditional:
            self._remember(key, response)
        return response

    def parse_feed(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = True,
    ) -> ParsedFeed | None:
        """Fetch and parse an RSS/Atom feed; on a 304, parse the body kept with the validators.

        Validators are sent only when their body is kept (so None, "not modified and nothing to
        parse", comes only from a server answering 304 to a plain GET). Malformed XML is only a
        warning while entries come through (feedparser's loose parser); a body with no entries that
        is not a clean feed raises `HttpError` "…: not a feed (…)".
        """
        key = self._key(url, params)
        kept = self._cache.body(key) if conditional else None
        response = self._send(url, params, self._headers(key, headers, kept is not None))
        not_modified = response.status_code == 304
        if not_modified and kept is None:
            return None
        content, received = kept if not_modified and kept else (response.content, _parse_headers(response))
        where = describe_url(response.url)
        body = utf8_feed_body(content, received.get("content-type", ""))
        parsed = feedparser.parse(body.content, response_headers=dict(received))
        entries = list(parsed.entries)
        if not entries and (parsed.bozo or not parsed.get("version")):
            ctype = received.get("content-type", "no content-type")
            raise HttpError(f"{where}: not a feed ({_bozo_reason(parsed)}; {ctype})", url=url)
        problems = [replaced_warning(body.replaced, entries)] if body.replaced else []
        if parsed.bozo:
            problems.append(
                f"feed is malformed but usable, kept {len(entries)} entries ({_bozo_reason(parsed)})"
            )
        warning = f"{where}: {'; '.join(problems)}" if problems else None
        if conditional and warning is None and not not_modified:  # a cut-off feed would hide its lost entries
            self._remember(key, response, (content, received))
        return ParsedFeed(url, parsed.feed, entries, body.content, warning, not_modified)

    # --- internals -------------------------------------------------------------------------------

    @staticmethod
    def _key(url: str, params: Mapping[str, str | int] | None) -> str:
        return str(httpx.URL(url).copy_merge_params(dict(params))) if params else url

    def _headers(self, key: str, headers: Mapping[str, str] | None, conditional: bool) -> dict[str, str]:
        sent = dict(headers or {})
        validators = self._cache.get(key) if conditional else None
        if validators:
            etag, modified = validators
            if etag:
                sent["If-None-Match"] = etag
            if modified:
                sent["If-Modified-Since"] = modified
        return sent

    def _remember(self, key: str, response: httpx.Response, body: KeptBody | None = None) -> None:
        etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
        if etag or modified:
            self._cache.put(key, etag, modified, body)

    def _send(
        self, url: str, params: Mapping[str, str | int] | None, headers: dict[str, str]
    ) -> httpx.Response:
        where = describe_url(url)
        scrub = Scrubber.of(v for k, v in headers.items() if k.lower() in SECRET_HEADERS)
        retries = self._config.max_retries
        attempt = 0
        while True:
            try:
                response = self._client.get(url, params=params, headers=headers)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise HttpError(scrub(f"{where}: bad URL ({exc})"), url=url) from None
            except httpx.TransportError as exc:
                cause = scrub(_transport_cause(exc))
                if attempt >= retries:
                    raise HttpError(f"{where}: {cause}{_plural(attempt)}", url=url) from None
                delay = self._backoff(attempt)
            except httpx.HTTPError as exc:  # too many redirects, undecodable body: retrying will not help
                raise HttpError(scrub(f"{where}: {type(exc).__name__}: {exc}"), url=url) from None
            else:
                status = response.status_code
                if status < 400:
                    return response
                detail = scrub(_error_detail(response))
                if not _retryable(status) or attempt >= retries:
                    message = f"{where}: HTTP {status}{_plural(attempt)}{detail}"
                    raise HttpError(message, url=url, status=status)
                delay = self._retry_delay(response, attempt, where)
                cause = f"HTTP {status}"
            attempt += 1
            logger.info("%s: %s; retry %d/%d in %.1f s", where, cause, attempt, retries, delay)
            self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        return float(self._config.backoff_seconds * 2**attempt)

    def _retry_delay(self, response: httpx.Response, attempt: int, where: str) -> float:
        """Seconds to wait before the next try: Retry-After if given (capped), else backoff."""
        header = response.headers.get("retry-after")
        wait = self._parse_retry_after(header) if header else None
        if wait is None:
            return self._backoff(attempt)
        cap = self._config.max_retry_after_seconds
        if wait > cap:
            raise HttpError(
                f"{where}: HTTP {response.status_code}, server asks to wait {wait:.0f} s "
                f"(over the {cap:.0f} s limit); try again later",
                url=str(response.url),
                status=response.status_code,
            )
        return wait

    def _parse_retry_after(self, value: str) -> float | None:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, (moment - self._now()).total_seconds())
