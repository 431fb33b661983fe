"""ArxivSource: the real `arxiv` client against the local fake arXiv API."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest

from digestbot.domain import Item, SourceName, Window
from digestbot.settings import ArxivConfig
from digestbot.sources.arxiv import ArxivSource, announcements_in, build_query
from digestbot.sources.base import FetchLog, SourceError
from digestbot.testing.arxiv_server import FakeArxivServer, Reply, synthetic_entries

FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"
WEEK = Window(datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC))  # synthetic_entries' span
QUERY = "(cat:cs.CL OR cat:cs.AI OR cat:cs.LG) AND submittedDate:[202601050000 TO 202601112359]"


@pytest.fixture
def server() -> Iterator[FakeArxivServer]:
    with FakeArxivServer(synthetic_entries(25)) as fake:
        yield fake


@pytest.fixture
def slept() -> list[float]:
    return []


def make_source(url: str, slept: list[float], **overrides: Any) -> ArxivSource:
    settings: dict[str, Any] = {"api_url": url, "delay_seconds": 0, "page_size": 10, "timeout_seconds": 5}
    return ArxivSource(ArxivConfig(**(settings | overrides)), sleep=slept.append, clock=lambda: 0.0)


def fetch_all(source: ArxivSource, window: Window = WEEK) -> tuple[list[Item], FetchLog]:
    log = FetchLog(SourceName.ARXIV)
    return list(source.fetch(window, log)), log


def replayed(name: str, max_results: int) -> list[Item]:
    with FakeArxivServer.replaying(FIXTURES / name) as fake:
        items, _ = fetch_all(make_source(fake.url, [], max_results=max_results, page_size=100))
    return items


def starts(server: FakeArxivServer) -> list[str]:
    return [r["start"] for r in server.requests]


# --- normalization of real recordings ------------------------------------------------------------


def test_recording_2026_normalizes_unicode_author_and_cross_lists() -> None:
    """The 2026 recording gives a versionless id and URL, the accented author intact and primary tag first."""
    items = {i.id: i for i in replayed("api2026_search-all-testing_start0_max10.xml", max_results=10)}
    actual = items["arxiv:2405.13786"]
    expected = Item(
        id="arxiv:2405.13786",
        source=SourceName.ARXIV,
        url="https://arxiv.org/abs/2405.13786",
        title="Towards Explainable Test Case Prioritisation with Learning-to-Rank Models",
        text="",
        published=datetime(2024, 5, 22, 16, 11, 45, tzinfo=UTC),
        updated=datetime(2024, 5, 22, 16, 11, 45, tzinfo=UTC),
        authors=("Aurora Ramírez", "Mario Berrios", "José Raúl Romero", "Robert Feldt"),
        language="en",
        tags=("cs.SE", "cs.AI"),
        version=1,
    )
    assert expected == dataclasses.replace(actual, text="")
    assert actual.text.startswith("Test case prioritisation (TCP) is a critical task")
    assert actual.text.endswith("but also on the relative ranks.")
    assert len(items) == 10


def test_recording_2026_revised_entry_has_version_two() -> None:
    """A v2 entry keeps version=2, its original published date and a later updated date."""
    items = {i.id: i for i in replayed("api2026_search-all-testing_start0_max10.xml", max_results=10)}
    actual = items["arxiv:2005.14124"]
    expected = (
        2,
        datetime(2020, 5, 28, 16, 19, 50, tzinfo=UTC),
        datetime(2020, 7, 16, 8, 15, 48, tzinfo=UTC),
        ("cs.SE", "cs.CR", "cs.LG"),
    )
    assert expected == (actual.version, actual.published, actual.updated, actual.tags)


def test_recording_old_style_id_keeps_its_slash() -> None:
    """`astro-ph/0601001v1` becomes id `arxiv:astro-ph/0601001`; the abstract is stripped and unescaped."""
    [actual] = replayed("api2026_idlist-astro-ph-0601001_old-style-id.xml", max_results=10)
    expected = (
        "arxiv:astro-ph/0601001",
        "https://arxiv.org/abs/astro-ph/0601001",
        1,
        ("astro-ph",),
        ("Andrew Gould", "Susan Dorsher", "B. Scott Gaudi", "Andrzej Udalski"),
    )
    assert expected == (actual.id, actual.url, actual.version, actual.tags, actual.authors)
    assert actual.text.startswith("We derive the frequencies of hot Jupiters")
    assert "Gould & Morgan (2003)" in actual.text


def test_recording_legacy_2016_collapses_wrapped_title_and_abstract() -> None:
    """The 2016 format's hard-wrapped title and indented abstract come out on one clean line."""
    [actual] = replayed("legacy2016_idlist-1111.2011v2.xml", max_results=10)
    expected = Item(
        id="arxiv:1111.2011",
        source=SourceName.ARXIV,
        url="https://arxiv.org/abs/1111.2011",
        title="Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit",
        text="",
        published=datetime(2011, 11, 8, 18, 48, 36, tzinfo=UTC),
        updated=datetime(2012, 4, 2, 12, 38, 54, tzinfo=UTC),
        authors=("James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic"),
        tags=("cond-mat.str-el", "cond-mat.stat-mech"),
        version=2,
    )
    assert expected == dataclasses.replace(actual, text="")
    assert actual.text.startswith(
        "Theoretical description of anisotropic systems, such as layered superconductors"
    )
    assert actual.text.endswith("adding a single extra dimension to the theory describing a single node.")


def test_recording_legacy_2016_search_has_no_raw_whitespace() -> None:
    """Every legacy entry is normalized: no newline, no double space, no leading blank."""
    items = replayed("legacy2016_search-au-del_maestro_max10.xml", max_results=10)
    messy = [
        i.id
        for i in items
        if "\n" in i.title + i.text or "  " in i.title + i.text or i.text != i.text.strip()
    ]
    expected = []
    assert expected == messy
    assert "arxiv:cond-mat/0412498" in {i.id for i in items}
    assert len(items) == 10


# --- paging and the query ---------------------------------------------------------------------------


def test_pages_through_results_with_increasing_start(server: FakeArxivServer, slept: list[float]) -> None:
    """25 results at page_size 10 take three requests (start 0, 10, 20) and yield each paper once."""
    items, log = fetch_all(make_source(server.url, slept))
    expected = (["0", "10", "20"], ["10", "10", "10"], 25, 3, [], [])
    actual = (
        starts(server),
        [r["max_results"] for r in server.requests],
        len({i.id for i in items}),
        log.requests,
        log.warnings,
        slept,
    )
    assert expected == actual
    assert sorted(items, key=lambda i: i.published, reverse=True) == items


def test_max_results_caps_the_fetch(server: FakeArxivServer, slept: list[float]) -> None:
    """max_results=15 stops after 15 papers and never asks for the third page."""
    items, _ = fetch_all(make_source(server.url, slept, max_results=15))
    expected = (15, ["0", "10"])
    assert expected == (len(items), starts(server))


def test_hitting_max_results_with_more_matching_warns_and_counts_the_rest(
    server: FakeArxivServer, slept: list[float]
) -> None:
    """max_results=15 of 25 matching papers is never silent: a warning naming both and `cut_off` = 10."""
    _, capped = fetch_all(make_source(server.url, slept, max_results=15))
    _, whole = fetch_all(make_source(server.url, slept, max_results=25))

    expected = (10, 0, [])
    assert expected == (capped.cut_off, whole.cut_off, whole.warnings)
    assert ["25 papers match", "max_results = 15", "10 were not fetched"] == [
        part
        for part in ("25 papers match", "max_results = 15", "10 were not fetched")
        if part in capped.warnings[0]
    ]


def test_window_and_keywords_become_the_query(server: FakeArxivServer, slept: list[float]) -> None:
    """The query names the categories, the keywords and the window in UTC minutes, newest first."""
    source = make_source(server.url, slept, keywords=("LLM", "language model"))
    fetch_all(source, Window(datetime(2026, 1, 5, 9, 30, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)))
    expected = {
        "search_query": '(cat:cs.CL OR cat:cs.AI OR cat:cs.LG) AND (abs:"LLM" OR abs:"language model") '
        "AND submittedDate:[202601050930 TO 202601052359]",
        "sortBy": "submittedDate",
        "sortOrder": "descending",
    }
    assert expected == {k: server.requests[0][k] for k in expected}


def test_build_query_converts_an_aware_window_to_utc() -> None:
    """A window given in JST is written in UTC; the exclusive end becomes the last included minute."""
    window = Window.between(datetime(2026, 1, 5).date(), datetime(2026, 1, 5).date(), tz="Asia/Tokyo")
    config = ArxivConfig(categories=("cs.CL",))
    expected = "(cat:cs.CL) AND submittedDate:[202601041500 TO 202601051459]"
    assert expected == build_query(config, window)


# --- throttling, outages, timeouts -----------------------------------------------------------------


def test_429_then_success_honours_retry_after(server: FakeArxivServer, slept: list[float]) -> None:
    """A 429 with Retry-After: 2 sleeps exactly 2 s, then the same page is fetched again."""
    server.script((429, {"Retry-After": "2"}))
    items, log = fetch_all(make_source(server.url, slept, page_size=100))
    expected = ([2.0], ["0", "0"], 25, 2)
    assert expected == (slept, starts(server), len(items), log.requests)


def test_failure_mid_paging_resumes_at_the_offset_already_yielded(
    server: FakeArxivServer, slept: list[float]
) -> None:
    """A 503 on page two backs off and resumes at start=10 without repeating papers."""
    server.script(Reply(), (503, {}))
    items, _ = fetch_all(make_source(server.url, slept))
    expected = (["0", "10", "10", "20"], [1.0], 25)
    assert expected == (starts(server), slept, len({i.id for i in items}))


def test_503_storm_raises_a_clear_error_after_exponential_backoff(
    server: FakeArxivServer, slept: list[float]
) -> None:
    """Five 503s in a row (max_retries=4) back off 1, 2, 4, 8 s and then fail the source."""
    server.script(*[(503, {})] * 5)
    with pytest.raises(SourceError) as err:
        fetch_all(make_source(server.url, slept, max_retries=4))
    expected = ("arXiv API unavailable (HTTP 503) 5 times in a row; try again later", [1.0, 2.0, 4.0, 8.0], 5)
    assert expected == (str(err.value), slept, len(server.requests))


def test_429_storm_names_throttling(server: FakeArxivServer, slept: list[float]) -> None:
    """Persistent 429s end in a message that says arXiv throttled us."""
    server.script(*[(429, {"Retry-After": "1"})] * 3)
    with pytest.raises(SourceError) as err:
        fetch_all(make_source(server.url, slept, max_retries=2))
    expected = ("arXiv API throttled us (HTTP 429) 3 times in a row; try again later", [1.0, 1.0])
    assert expected == (str(err.value), slept)


def test_each_retry_is_announced_before_its_wait(server: FakeArxivServer, slept: list[float]) -> None:
    """While it waits, the fetch says why, how long and which retry ("arXiv: …, waiting 5 s (retry 2/4)")."""
    server.script((429, {"Retry-After": "5"}), (429, {"Retry-After": "5"}))
    said: list[str] = []
    log = FetchLog(
        SourceName.ARXIV, on_wait=lambda message: said.append(f"{message} after {len(slept)} waits")
    )
    list(make_source(server.url, slept, max_retries=4).fetch(WEEK, log))
    assert [
        "arXiv: throttled us (HTTP 429), waiting 5 s (retry 1/4) after 0 waits",
        "arXiv: throttled us (HTTP 429), waiting 5 s (retry 2/4) after 1 waits",
    ] == said


def test_excessive_retry_after_fails_instead_of_hanging(server: FakeArxivServer, slept: list[float]) -> None:
    """A Retry-After of an hour fails the source at once rather than sleeping through the run."""
    server.script((429, {"Retry-After": "3600"}))
    with pytest.raises(SourceError) as err:
        fetch_all(make_source(server.url, slept))
    expected = ("arXiv API throttled us and asked us to wait 3600 s; try again later", [])
    assert expected == (str(err.value), slept)


def test_papers_yielded_before_a_failure_stay_yielded(server: FakeArxivServer, slept: list[float]) -> None:
    """When page two never recovers, the first page's papers were already delivered."""
    server.script(Reply(), *[(503, {})] * 2)
    log = FetchLog(SourceName.ARXIV)
    received: list[Item] = []
    with pytest.raises(SourceError) as err:
        received.extend(make_source(server.url, slept, max_retries=1).fetch(WEEK, log))
    expected = (10, "arXiv API unavailable (HTTP 503) 2 times in a row (after 10 papers); try again later")
    assert expected == (len(received), str(err.value))


def test_read_timeout_is_retried_then_succeeds(server: FakeArxivServer, slept: list[float]) -> None:
    """A server slower than timeout_seconds is given up on, backed off, and asked again."""
    server.script(Reply(delay=5.0))
    items, _ = fetch_all(make_source(server.url, slept, timeout_seconds=0.05, page_size=100))
    expected = (25, [1.0], ["0", "0"])
    assert expected == (len(items), slept, starts(server))


def test_repeated_timeouts_raise_a_clear_error(server: FakeArxivServer, slept: list[float]) -> None:
    """Timeouts on every try fail the source with a message naming the timeout setting."""
    server.script(Reply(delay=5.0), Reply(delay=5.0))
    with pytest.raises(SourceError) as err:
        fetch_all(make_source(server.url, slept, timeout_seconds=0.05, max_retries=1))
    expected = (
        "arXiv API timed out after 0.05 s 2 times in a row; "
        "try again later or raise sources.arxiv.timeout_seconds"
    )
    assert expected == str(err.value)


def test_unreachable_api_names_the_url(slept: list[float]) -> None:
    """A port nobody listens on fails with the URL to check, after the configured retries."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/query"
    with pytest.raises(SourceError) as err:
        fetch_all(make_source(url, slept, max_retries=1))
    assert str(err.value).startswith(f"arXiv API unreachable at {url} (ConnectionError) 2 times in a row")
    expected = [1.0]
    assert expected == slept


# --- error feeds and empty results ------------------------------------------------------------------


def test_http_400_error_feed_becomes_the_apis_message(server: FakeArxivServer, slept: list[float]) -> None:
    """The recorded HTTP 400 error feed is reported with arXiv's own words, without retrying."""
    server.script(Reply(400, {}, (FIXTURES / "api2026_error-http400_idlist-abc.xml").read_bytes()))
    with pytest.raises(SourceError) as err:
        fetch_all(make_source(server.url, slept))
    expected = ("arXiv API rejected the query: incorrect id format for abc", 1, [])
    assert expected == (str(err.value), len(server.requests), slept)


def test_error_feed_with_http_200_is_still_an_error(server: FakeArxivServer, slept: list[float]) -> None:
    """An error feed served with 200 is not mistaken for an empty result."""
    server.script(Reply(200, {}, (FIXTURES / "api2026_error-http400_idlist-abc.xml").read_bytes()))
    with pytest.raises(SourceError) as err:
        fetch_all(make_source(server.url, slept))
    expected = "arXiv API rejected the query: incorrect id format for abc"
    assert expected == str(err.value)


def test_truncated_feed_is_retried_not_read_as_zero_papers(
    server: FakeArxivServer, slept: list[float]
) -> None:
    """A 200 answer cut off mid-feed is a failed request: retried, then the whole fetch succeeds."""
    whole = (FIXTURES / "api2026_search-all-testing_start0_max10.xml").read_bytes()
    server.script(Reply(200, {}, whole[: len(whole) // 2]))
    items, log = fetch_all(make_source(server.url, slept, page_size=100))
    expected = (25, [1.0], [])
    assert expected == (len(items), slept, log.warnings)


def test_html_page_with_200_fails_the_source_instead_of_an_empty_week(
    server: FakeArxivServer, slept: list[float]
) -> None:
    """A maintenance page served with 200 is never mistaken for "no papers": the source fails, saying so."""
    page = b"<html><body><h1>arXiv is down for maintenance</h1></body></html>"
    server.script(*[Reply(200, {}, page)] * 2)
    with pytest.raises(SourceError) as err:
        fetch_all(make_source(server.url, slept, max_retries=1))
    expected = (
        "arXiv API sent a malformed response (64 bytes of application/atom+xml; charset=utf-8, "
        "no arXiv feed) 2 times in a row; try again later"
    )
    assert expected == str(err.value)


def test_empty_weekend_window_warns_about_the_schedule(server: FakeArxivServer, slept: list[float]) -> None:
    """Fri 19:00 to Sat 19:00 US Eastern holds no announcement: the warning says so."""
    window = Window(datetime(2026, 1, 17, tzinfo=UTC), datetime(2026, 1, 18, tzinfo=UTC))
    items, log = fetch_all(make_source(server.url, slept), window)
    expected = ([], 1)
    assert expected == (items, len(log.warnings))
    assert log.warnings[0].startswith(
        "no arXiv announcements in this window (weekend/holiday) 2026-01-17 00:00"
    )


def test_empty_weekday_window_warns_that_the_index_may_lag(
    server: FakeArxivServer, slept: list[float]
) -> None:
    """A window with an announcement but no papers suggests trying again later."""
    window = Window(datetime(2026, 1, 20, tzinfo=UTC), datetime(2026, 1, 21, tzinfo=UTC))
    items, log = fetch_all(make_source(server.url, slept), window)
    expected = [
        "arXiv returned 0 papers for 2026-01-20 00:00–2026-01-21 00:00 UTC; "
        "the API index may lag, try again later"
    ]
    assert ([], expected) == (items, log.warnings)


def test_recorded_zero_results_feed_is_an_empty_fetch(slept: list[float]) -> None:
    """The recorded totalResults=0 feed yields nothing and one warning, with no retry."""
    with FakeArxivServer.replaying(FIXTURES / "api2026_idlist-0000.0000_zero-results.xml") as fake:
        items, log = fetch_all(make_source(fake.url, slept))
    expected = ([], 1, 1, [])
    assert expected == (items, len(log.warnings), log.requests, slept)


def test_pages_that_stay_empty_end_with_a_warning(server: FakeArxivServer, slept: list[float]) -> None:
    """If page two keeps coming back empty, the first page is kept and the gap is reported."""
    empty = (FIXTURES / "api2026_idlist-0000.0000_zero-results.xml").read_bytes()
    server.script(Reply(), Reply(200, {}, empty), Reply(200, {}, empty))
    items, log = fetch_all(make_source(server.url, slept, max_retries=1))
    expected = [
        "arXiv API stopped returning results after 10 of 25 papers (2 tries); the digest may miss some papers"
    ]
    assert (10, expected, [1.0]) == (len(items), log.warnings, slept)


def test_an_empty_resumed_page_is_retried(server: FakeArxivServer, slept: list[float]) -> None:
    """After a 503, a resumed page that comes back empty once is retried rather than ending the fetch."""
    empty = (FIXTURES / "api2026_idlist-0000.0000_zero-results.xml").read_bytes()
    server.script(Reply(), (503, {}), Reply(200, {}, empty))
    items, log = fetch_all(make_source(server.url, slept))
    expected = (25, [1.0, 2.0], [])
    assert expected == (len({i.id for i in items}), slept, log.warnings)


# --- the announcement calendar and etiquette ---------------------------------------------------------


def test_announcements_in_a_winter_week() -> None:
    """Sun–Thu 20:00 EST is 01:00 UTC the next day; Friday and Saturday have none."""
    expected = tuple(datetime(2026, 1, day, 1, tzinfo=UTC) for day in (5, 6, 7, 8, 9))
    assert expected == announcements_in(WEEK)


def test_announcements_follow_daylight_saving_time() -> None:
    """In July, 20:00 EDT is 00:00 UTC; the window end is exclusive."""
    window = Window(datetime(2026, 7, 6, tzinfo=UTC), datetime(2026, 7, 7, tzinfo=UTC))
    expected = (datetime(2026, 7, 6, tzinfo=UTC),)
    assert expected == announcements_in(window)


def test_announcements_none_over_friday_and_saturday() -> None:
    """From Thursday's announcement to just before Sunday's there is nothing."""
    window = Window(datetime(2026, 1, 9, 1, 1, tzinfo=UTC), datetime(2026, 1, 12, 1, tzinfo=UTC))
    expected = ()
    assert expected == announcements_in(window)


def test_etiquette_rejects_a_short_delay_for_the_real_api() -> None:
    """delay_seconds below 3 is refused for a non-loopback arXiv URL."""
    with pytest.raises(pydantic.ValidationError, match=r"at least 3\.0"):
        ArxivConfig(delay_seconds=1, api_url="https://export.arxiv.org/api/query")


def test_etiquette_allows_a_short_delay_on_loopback() -> None:
    """The fake server on 127.0.0.1 may be queried without the 3-second pause."""
    expected = 0
    assert expected == ArxivConfig(delay_seconds=0, api_url="http://127.0.0.1:9/api/query").delay_seconds


def test_source_has_the_arxiv_name(server: FakeArxivServer, slept: list[float]) -> None:
    """The source identifies itself as arxiv, as the Source protocol requires."""
    expected = SourceName.ARXIV
    assert expected == make_source(server.url, slept).name
