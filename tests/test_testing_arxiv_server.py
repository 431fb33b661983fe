"""The fake arXiv API server: feed rendering, filtering, paging, scripted faults, synthetic entries."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import arxiv
import pytest

from digestbot.testing.arxiv_server import ArxivEntry, FakeArxivServer, Reply, synthetic_entries

FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"

ENTRIES: list[ArxivEntry] = [
    {"id": "2601.00001v1", "title": "A", "summary": "a", "published": "2026-01-05T10:00:59Z"},
    {"id": "2601.00002v2", "title": "B & <C>", "summary": "b < c", "published": "2026-01-05T10:01:00Z",
     "updated": "2026-01-20T08:00:00Z", "authors": ["Aurora Ramírez"], "categories": ["cs.CL", "cs.LG"],
     "doi": "10.1/x", "comment": "9 pages", "journal_ref": "J 1"},
    {"id": "2601.00003v1", "title": "C", "summary": "c",
     "published": datetime(2026, 1, 5, 10, 2, tzinfo=UTC)},
]  # fmt: skip


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read()


def ids(body: bytes | None) -> list[str]:
    assert body is not None
    return [r.get_short_id() for r in arxiv._feed.parse(body).results]


def test_rendered_feed_parses_with_the_arxiv_package() -> None:
    """Every field the bot reads survives rendering, escaping included."""
    server = FakeArxivServer(ENTRIES)
    body = server.answer({"search_query": "", "start": "0", "max_results": "10"}).body
    assert body is not None
    feed = arxiv._feed.parse(body)
    result = feed.results[1]
    expected = (3, "B & <C>", "b < c", ["Aurora Ramírez"], "cs.CL", ["cs.CL", "cs.LG"], "10.1/x", "9 pages")
    actual = (
        feed.header.total_results,
        result.title,
        result.summary,
        [a.name for a in result.authors],
        result.primary_category,
        result.categories,
        result.doi,
        result.comment,
    )
    assert expected == actual


def test_date_clause_is_inclusive_by_minute_and_sorts_newest_first() -> None:
    """`submittedDate:[…1000 TO …1001]` keeps 10:00:59 and 10:01:00 but not 10:02."""
    server = FakeArxivServer(ENTRIES)
    params = {
        "search_query": "cat:cs.CL AND submittedDate:[202601051000 TO 202601051001]",
        "sortBy": "submittedDate",
        "sortOrder": "descending",
    }
    expected = ["2601.00002v2", "2601.00001v1"]
    assert expected == ids(server.answer(params).body)


def test_paging_reports_the_total_and_slices_by_start() -> None:
    """start/max_results slice the sorted matches; totalResults counts all of them."""
    server = FakeArxivServer(ENTRIES)
    params = {"sortBy": "submittedDate", "sortOrder": "ascending", "start": "1", "max_results": "1"}
    body = server.answer(params).body
    assert body is not None
    expected = (["2601.00002v2"], 3, 1)
    header = arxiv._feed.parse(body).header
    assert expected == (ids(body), header.total_results, header.start_index)


def test_scripted_replies_come_first_then_normal_serving() -> None:
    """A scripted 503 answers the first request with a text body; the next one gets the feed."""
    with FakeArxivServer(ENTRIES) as server:
        server.script((503, {"Retry-After": "7"}))
        first = get(server.url + "?start=0&max_results=10")
        second = get(server.url + "?start=0&max_results=10")
    expected = ((503, b"503 Service Unavailable\n"), 200, 2)
    assert expected == (first, second[0], len(server.requests))


def test_replay_serves_a_recording_byte_for_byte() -> None:
    """A replaying server returns the recorded file unchanged and records the query."""
    path = FIXTURES / "api2026_search-all-testing_start0_max10.xml"
    with FakeArxivServer.replaying(path) as server:
        status, body = get(server.url + "?search_query=all%3Atesting&start=0")
    expected = (200, path.read_bytes(), [{"search_query": "all:testing", "start": "0"}])
    assert expected == (status, body, server.requests)


def test_unknown_path_is_404() -> None:
    """Only /api/query is served, so a wrong base URL fails loudly."""
    with FakeArxivServer(ENTRIES) as server:
        status, _ = get(server.url.replace("/api/query", "/query"))
    expected = (404, [])
    assert expected == (status, server.requests)


def test_scripted_delay_is_cut_short_when_the_server_closes() -> None:
    """Closing the server does not wait out a long scripted delay."""
    server = FakeArxivServer(ENTRIES).start()
    server.script(Reply(delay=600))
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=0.05)
    server.close()
    assert len(server.requests) == 1


def test_synthetic_entries_are_deterministic_and_realistic() -> None:
    """The same seed gives the same entries: unique ids, inside the span, a mix of topics and versions."""
    entries = synthetic_entries(500, seed=7)
    start, end = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC)
    published = [e["published"] for e in entries]
    assert entries == synthetic_entries(500, seed=7)
    assert entries != synthetic_entries(500, seed=8)
    assert len({e["id"] for e in entries}) == 500
    assert all(isinstance(p, datetime) and start <= p < end for p in published)
    llm = sum("LLM" in e["title"] or "Language Model" in e["title"] for e in entries)
    revised = sum(e["id"].endswith("v2") for e in entries)
    assert 50 < llm < 450
    assert 30 < revised < 200
