"""HttpFetcher against the local feed server: retries, Retry-After, conditional GET, feed parsing, errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from digestbot.settings import HttpConfig
from digestbot.sources.base import SourceError
from digestbot.sources.http import (
    HttpError,
    HttpFetcher,
    MemoryValidatorCache,
    NotModified,
    ParsedFeed,
    describe_url,
    feed_time,
    read_json,
)
from digestbot.testing.feed_builders import render_qiita_tag_feed, synthetic_qiita_items
from digestbot.testing.feed_server import ATOM, Fault, FeedServer

NOW = datetime(2025, 11, 24, 0, 0, tzinfo=UTC)
FEED = "/tags/llm/feed"
TOKEN = "qiita-secret-token-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    """A feed server with one 5-entry Qiita tag feed at /tags/llm/feed."""
    with FeedServer(qiita_token=TOKEN) as srv:
        srv.publish_qiita(synthetic_qiita_items(5, seed=3, end=NOW, tags=("LLM",)), tags=["LLM"])
        yield srv


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_fetcher(sleeps: list[float]) -> Iterator[Callable[..., HttpFetcher]]:
    """Builds fetchers whose sleeps are recorded instead of waited; closes them afterwards."""
    made: list[HttpFetcher] = []

    def make(cache: MemoryValidatorCache | None = None, **config: float) -> HttpFetcher:
        settings = HttpConfig(**{"timeout_seconds": 5.0, "max_retries": 3, "backoff_seconds": 1.0, **config})
        fetcher = HttpFetcher(settings, cache=cache, sleep=sleeps.append, now=lambda: NOW)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        fetcher.close()


def where(server: FeedServer, path: str) -> str:
    return server.base_url.removeprefix("http://") + path


def test_get_sends_the_configured_user_agent(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    """Every request carries the User-Agent from HttpConfig."""
    make_fetcher(user_agent="digestbot-test/1.0").get(server.base_url + FEED)
    expected = "digestbot-test/1.0"
    assert expected == server.requests[0].headers["user-agent"]


def test_5xx_is_retried_with_exponential_backoff(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher], sleeps: list[float]
) -> None:
    """Two 503s, then success: waits 1 s and 2 s and returns the feed."""
    server.fail(FEED, Fault(status=503), times=2)
    response = make_fetcher().get(server.base_url + FEED)
    expected = (200, [1.0, 2.0], 3)
    assert expected == (getattr(response, "status_code", None), sleeps, len(server.requests))


def test_retry_after_seconds_is_honoured(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher], sleeps: list[float]
) -> None:
    """A 429 with `Retry-After: 7` waits exactly 7 s before the retry."""
    server.fail(FEED, Fault(status=429, retry_after="7"))
    make_fetcher().get(server.base_url + FEED)
    expected = [7.0]
    assert expected == sleeps


def test_retry_after_http_date_is_honoured(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher], sleeps: list[float]
) -> None:
    """A 503 with an HTTP-date Retry-After 30 s ahead of the injected clock waits 30 s."""
    server.fail(
        FEED, Fault(status=503, retry_after=format_datetime(NOW + timedelta(seconds=30), usegmt=True))
    )
    make_fetcher().get(server.base_url + FEED)
    expected = [30.0]
    assert expected == sleeps


def test_retry_after_over_the_cap_fails_fast(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher], sleeps: list[float]
) -> None:
    """Retry-After 3600 over a 120 s cap fails at once with a message saying so, without waiting."""
    server.fail(FEED, Fault(status=429, retry_after="3600"))
    with pytest.raises(HttpError) as caught:
        make_fetcher(max_retry_after_seconds=120).get(server.base_url + FEED)
    message = (
        f"{where(server, FEED)}: HTTP 429, server asks to wait 3600 s (over the 120 s limit); try again later"
    )
    expected = (message, [], 1)
    assert expected == (str(caught.value), sleeps, len(server.requests))


def test_gives_up_after_max_retries_naming_host_and_path(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher], sleeps: list[float]
) -> None:
    """A feed that stays at 503 fails after 3 retries with `host/path: HTTP 503 after 3 retries`."""
    server.fail(FEED, Fault(status=503), times=None)
    with pytest.raises(HttpError) as caught:
        make_fetcher().get(server.base_url + FEED)
    expected = (f"{where(server, FEED)}: HTTP 503 after 3 retries", 503, [1.0, 2.0, 4.0], 4)
    assert expected == (str(caught.value), caught.value.status, sleeps, len(server.requests))
    assert isinstance(caught.value, SourceError)


def test_404_is_not_retried(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher], sleeps: list[float]
) -> None:
    """Client errors fail on the first answer."""
    with pytest.raises(HttpError) as caught:
        make_fetcher().get(server.base_url + "/tags/nothing/feed")
    expected = (f"{where(server, '/tags/nothing/feed')}: HTTP 404", [], 1)
    assert expected == (str(caught.value), sleeps, len(server.requests))


def test_connection_refused_is_retried_then_reported(
    make_fetcher: Callable[..., HttpFetcher], sleeps: list[float]
) -> None:
    """A dead port is retried with backoff and reported as a connection failure."""
    with FeedServer() as gone:
        url = gone.base_url + FEED
    with pytest.raises(HttpError) as caught:
        make_fetcher(max_retries=2).get(url)
    message = str(caught.value)
    expected = (True, True, [1.0, 2.0])
    assert expected == (
        message.startswith(f"{where(gone, FEED)}: connection failed"),
        message.endswith("after 2 retries"),
        sleeps,
    )


def test_timeout_is_retried(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher], sleeps: list[float]
) -> None:
    """A response slower than the timeout is retried, and the retry succeeds."""
    server.fail(FEED, Fault(delay=1.0))
    response = make_fetcher(timeout_seconds=0.2).get(server.base_url + FEED)
    expected = (200, [1.0])
    assert expected == (getattr(response, "status_code", None), sleeps)


def test_broken_connection_is_retried(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher], sleeps: list[float]
) -> None:
    """A body cut off by a closed connection is retried."""
    server.fail(FEED, Fault(drop=True))
    parsed = make_fetcher().parse_feed(server.base_url + FEED)
    expected = (5, [1.0])
    assert expected == (len(parsed.entries) if parsed else None, sleeps)


def test_conditional_get_returns_not_modified(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    """The second conditional GET sends the remembered ETag and gets `NotModified`."""
    fetcher = make_fetcher()
    first = fetcher.get(server.base_url + FEED, conditional=True)
    second = fetcher.get(server.base_url + FEED, conditional=True)
    etag = getattr(first, "headers", {}).get("etag")
    expected = (NotModified(server.base_url + FEED), etag)
    assert expected == (second, server.requests[1].headers.get("if-none-match"))
    assert etag


def test_unconditional_get_sends_no_validators(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    """Without `conditional`, nothing remembered is sent and the body comes back."""
    fetcher = make_fetcher()
    fetcher.get(server.base_url + FEED, conditional=True)
    response = fetcher.get(server.base_url + FEED)
    expected = (200, None)
    assert expected == (
        getattr(response, "status_code", None),
        server.requests[1].headers.get("if-none-match"),
    )


def test_parse_feed_uses_an_injected_cache_with_last_modified(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    """A cache holding Last-Modified and its body sends If-Modified-Since; the 304 parses the kept body."""
    body = render_qiita_tag_feed("LLM", synthetic_qiita_items(2, seed=9, end=NOW, tags=("LLM",)))
    cache = MemoryValidatorCache()
    cache.put(server.base_url + FEED, None, server.last_modified, (body, {"content-type": ATOM}))
    parsed = make_fetcher(cache=cache).parse_feed(server.base_url + FEED)
    expected = (2, True, server.last_modified, 304)
    assert expected == (
        len(parsed.entries) if parsed else None,
        parsed.not_modified if parsed else None,
        server.requests[0].headers.get("if-modified-since"),
        _status(make_fetcher, server, {"If-Modified-Since": server.last_modified}),
    )


def test_validators_without_their_body_are_not_sent(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    """Validators with no kept body (a store from before bodies were kept) are not sent: a 304 could not
    be parsed, so the whole feed comes back."""
    cache = MemoryValidatorCache()
    cache.put(server.base_url + FEED, None, server.last_modified)
    parsed = make_fetcher(cache=cache).parse_feed(server.base_url + FEED)
    expected = (5, False, None)
    assert expected == (
        len(parsed.entries) if parsed else None,
        parsed.not_modified if parsed else None,
        server.requests[0].headers.get("if-modified-since"),
    )


def test_not_modified_feed_gives_the_same_entries(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    """The second conditional parse gets a 304 on the wire and the same entries as the first, from the
    kept body: a caller with another window still sees every entry."""
    fetcher = make_fetcher()
    first = fetcher.parse_feed(server.base_url + FEED)
    second = fetcher.parse_feed(server.base_url + FEED)
    links = [[e.get("link") for e in p.entries] if p else [] for p in (first, second)]
    expected = (links[0], True, bool(server.requests[1].headers.get("if-none-match")))
    assert expected == (links[1], second.not_modified if second else None, True)
    assert len(links[0]) == 5


def _status(make_fetcher: Callable[..., HttpFetcher], server: FeedServer, headers: dict[str, str]) -> int:
    response = make_fetcher().get(server.base_url + FEED, headers=headers)
    return 304 if isinstance(response, NotModified) else response.status_code


def test_parse_feed_remembers_validators_in_the_cache(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    """After a parsed feed, the cache holds the server's ETag and Last-Modified for the URL."""
    cache = MemoryValidatorCache()
    make_fetcher(cache=cache).parse_feed(server.base_url + FEED)
    response = make_fetcher().get(server.base_url + FEED)
    headers = getattr(response, "headers", {})
    assert (headers.get("etag"), headers.get("last-modified")) == cache.get(server.base_url + FEED)


def test_parse_feed_returns_entries(server: FeedServer, make_fetcher: Callable[..., HttpFetcher]) -> None:
    """A clean Atom feed gives its entries, its channel title and no warning."""
    parsed = make_fetcher().parse_feed(server.base_url + FEED)
    assert isinstance(parsed, ParsedFeed)
    expected = (5, "LLMタグが付けられた新着記事 - Qiita", None)
    assert expected == (len(parsed.entries), parsed.feed.get("title"), parsed.warning)


def test_malformed_but_usable_feed_keeps_entries_and_warns(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    """A feed cut off mid-document keeps the entries before the cut and returns a warning."""
    server.fail(FEED, Fault(cut=0.7))
    parsed = make_fetcher().parse_feed(server.base_url + FEED)
    assert parsed is not None
    assert 0 < len(parsed.entries) < 5
    assert parsed.warning is not None
    assert parsed.warning.startswith(f"{where(server, FEED)}: feed is malformed but usable, kept ")


def test_malformed_feed_is_fetched_whole_next_time(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    """A cut-off feed's validators are not kept: the next conditional GET gets every entry, not a 304."""
    server.fail(FEED, Fault(cut=0.7))
    fetcher = make_fetcher(MemoryValidatorCache())
    fetcher.parse_feed(server.base_url + FEED)
    again = fetcher.parse_feed(server.base_url + FEED)
    expected = (5, None)
    assert expected == (
        len(again.entries) if again else 0,
        server.requests_to(FEED)[1].headers.get("if-none-match"),
    )


def test_html_content_type_on_a_good_feed_is_only_a_warning(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    """A feed served as text/html still gives every entry, with a warning."""
    server.fail(FEED, Fault(content_type="text/html"))
    parsed = make_fetcher().parse_feed(server.base_url + FEED)
    assert parsed is not None
    expected = (5, True)
    assert expected == (len(parsed.entries), parsed.warning is not None)


def test_non_xml_body_is_a_clear_error(server: FeedServer, make_fetcher: Callable[..., HttpFetcher]) -> None:
    """An HTML login page instead of a feed raises `…: not a feed (…)` naming the content type."""
    page = "<html><head><title>ログイン</title></head><body><form>ログインしてください</form></body></html>"
    server.fail(FEED, Fault(body=page.encode(), content_type="text/html; charset=utf-8"))
    with pytest.raises(HttpError) as caught:
        make_fetcher().parse_feed(server.base_url + FEED)
    message = str(caught.value)
    assert message.startswith(f"{where(server, FEED)}: not a feed (")
    assert "text/html" in message


def test_empty_but_valid_feed_is_fine(server: FeedServer, make_fetcher: Callable[..., HttpFetcher]) -> None:
    """A well-formed feed with no entries is an empty result, not an error."""
    server.publish("/tags/empty/feed", render_qiita_tag_feed("empty", []), ATOM)
    parsed = make_fetcher().parse_feed(server.base_url + "/tags/empty/feed")
    expected = ([], None)
    assert expected == (parsed.entries if parsed else None, parsed.warning if parsed else "gone")


def test_json_error_message_is_put_into_the_error(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    """Qiita's `{"message","type"}` error body appears in the message."""
    with pytest.raises(HttpError) as caught:
        make_fetcher().get(server.base_url + "/api/v2/items", headers={"Authorization": "Bearer wrong"})
    assert f"{where(server, '/api/v2/items')}: HTTP 401 (Unauthorized)" == str(caught.value)


def test_token_never_appears_in_errors_or_logs(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher], caplog: pytest.LogCaptureFixture
) -> None:
    """Retries, failures and even a server echoing the token leave no trace of it in messages or logs."""
    echo = json.dumps({"message": f"token Bearer {TOKEN} is not allowed", "type": "forbidden"}).encode()
    server.fail("/api/v2/items", Fault(status=503), times=1)
    server.fail("/api/v2/items", Fault(status=403, body=echo, content_type="application/json"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(HttpError) as caught:
        make_fetcher().get(server.base_url + "/api/v2/items", headers={"Authorization": f"Bearer {TOKEN}"})
    expected = TOKEN
    assert expected == server.requests[0].headers["authorization"].removeprefix("Bearer ")
    assert TOKEN not in str(caught.value)
    assert "***" in str(caught.value)
    assert TOKEN not in caplog.text
    assert all(TOKEN not in str(record.args) for record in caplog.records)


def test_read_json_rejects_a_non_json_body(
    server: FeedServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    """A feed where JSON was expected raises `…: response is not JSON (…)`."""
    response = make_fetcher().get(server.base_url + FEED)
    assert not isinstance(response, NotModified)
    with pytest.raises(HttpError) as caught:
        read_json(response)
    assert str(caught.value).startswith(f"{where(server, FEED)}: response is not JSON (application/atom+xml")


def test_describe_url_decodes_the_path_and_drops_the_query() -> None:
    """Messages show `host/path` with Japanese tags readable."""
    expected = "qiita.com/tags/生成ai/feed"
    assert expected == describe_url("https://qiita.com/tags/%E7%94%9F%E6%88%90ai/feed?page=2")


def test_feed_time_makes_aware_utc() -> None:
    """feedparser's UTC struct_time becomes an aware datetime; None stays None."""
    import time

    expected = (datetime(2025, 11, 19, 14, 30, tzinfo=UTC), None)
    assert expected == (feed_time(time.struct_time((2025, 11, 19, 14, 30, 0, 2, 323, 0))), feed_time(None))
