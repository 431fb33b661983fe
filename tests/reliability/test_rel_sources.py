"""Sources misbehaving during a whole run: the run finishes with the others, the digest names the
failed source, and nothing stored earlier is lost."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from digestbot.domain import SourceName
from digestbot.runner import run_digest
from digestbot.testing.arxiv_server import Reply, synthetic_entries
from digestbot.testing.feed_server import Fault
from reliability.harness import (
    ARXIV_TITLES,
    DAYS,
    QIITA_FEED,
    QIITA_TITLES,
    WINDOW,
    ZENN_FEED,
    ZENN_TITLES,
    Stack,
    arxiv_entry,
)

LABEL = {"arxiv": "arXiv", "qiita": "Qiita", "zenn": "Zenn"}
TITLES = {"arxiv": ARXIV_TITLES, "qiita": QIITA_TITLES, "zenn": ZENN_TITLES}
HTML_PAGE = b"<html><body><h1>Service Unavailable</h1></body></html>"


def _arxiv_down(stack: Stack, refused: str) -> None:
    stack.configure(arxiv_url=f"{refused}/api/query")


def _qiita_down(stack: Stack, refused: str) -> None:
    stack.configure(qiita_url=refused)


def _arxiv_cut(stack: Stack, _: str) -> None:
    whole = (stack.arxiv.answer({"search_query": "", "max_results": "100"})).body or b""
    stack.arxiv.requests.clear()
    stack.arxiv.script(*[Reply(200, {}, whole[: len(whole) // 2])] * 2)


FAULTS: dict[str, tuple[str, Callable[[Stack, str], None], str]] = {
    # name: (failing source, how to break it, what the digest's note says about the cause)
    "arxiv-down": ("arxiv", _arxiv_down, "unreachable"),
    "arxiv-timeout": ("arxiv", lambda s, _: s.arxiv.script(Reply(delay=5), Reply(delay=5)), "timed out"),
    "arxiv-429-storm": (
        "arxiv",
        lambda s, _: s.arxiv.script(*[Reply(429, {"Retry-After": "0"})] * 2),
        "throttled us (HTTP 429)",
    ),
    "arxiv-5xx": ("arxiv", lambda s, _: s.arxiv.script(*[Reply(503)] * 2), "unavailable (HTTP 503)"),
    "arxiv-truncated-xml": ("arxiv", _arxiv_cut, "malformed response"),
    "arxiv-html-with-200": (
        "arxiv",
        lambda s, _: s.arxiv.script(*[Reply(200, {}, HTML_PAGE)] * 2),
        "malformed response",
    ),
    "qiita-down": ("qiita", _qiita_down, "connection failed"),
    "qiita-timeout": (
        "qiita",
        lambda s, _: s.feeds.fail(QIITA_FEED, Fault(delay=1.0), times=None),
        "timed out",
    ),
    "qiita-429-storm": (
        "qiita",
        lambda s, _: s.feeds.fail(QIITA_FEED, Fault(status=429, retry_after="0"), times=None),
        "HTTP 429",
    ),
    "qiita-connection-dropped": (
        "qiita",
        lambda s, _: s.feeds.fail(QIITA_FEED, Fault(drop=True), times=None),
        "connection broken",
    ),
    "zenn-5xx": ("zenn", lambda s, _: s.feeds.fail(ZENN_FEED, Fault(status=502), times=None), "HTTP 502"),
    "zenn-wrong-content-type": (
        "zenn",
        lambda s, _: s.feeds.fail(
            ZENN_FEED, Fault(body=HTML_PAGE, content_type="text/html; charset=utf-8"), times=None
        ),
        "not a feed",
    ),
    "zenn-truncated-xml": (
        "zenn",
        lambda s, _: s.feeds.fail(ZENN_FEED, Fault(cut=0.05), times=None),
        "not a feed",
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_one_source_failing_still_posts_the_others_and_names_it(
    stack: Stack, refused_url: str, fault: str
) -> None:
    """The broken source is named in the posted digest; every source's stored items still appear."""
    source, inject, cause = FAULTS[fault]
    seeded = stack.cli("fetch", *DAYS)
    before = stack.stored_ids()
    stack.refresh_feeds()  # new bytes, so the fault spoils a real 200 answer instead of a 304
    stack.configure(http_timeout="0.5")
    inject(stack, refused_url)

    outcome = stack.run()

    posted = "\n".join(stack.slack_payloads())
    rows = {row.source.value: row for row in outcome.ingest.rows} if outcome.ingest else {}
    expected = (0, [source], 1, True, True)
    assert expected == (
        seeded.exit_code,
        [name for name, row in rows.items() if row.failed],
        len(stack.top_level()),
        f"{LABEL[source]}: 取得に失敗しました" in posted and f"{LABEL[source]} 取得失敗" in posted,
        before <= stack.stored_ids(),
    )
    assert cause in (rows[source].failure or "")
    assert all(title in posted for titles in TITLES.values() for title in titles)


def test_a_feed_cut_mid_entry_keeps_what_arrived_and_is_refetched_whole(stack: Stack) -> None:
    """Entries before the cut are kept and the loss is warned; the next run gets the whole feed again."""
    stack.feeds.fail(ZENN_FEED, Fault(cut=0.5))
    first = stack.cli("fetch", *DAYS, "--source", "zenn")
    partial = stack.stored_ids(SourceName.ZENN)
    second = stack.cli("fetch", *DAYS, "--source", "zenn")
    expected = (0, 1, "feed is malformed but usable, kept 1 entries", 0, 2)
    assert expected == (
        first.exit_code,
        len(partial),
        "feed is malformed but usable, kept 1 entries" if "kept 1 entries" in first.stdout else first.stdout,
        second.exit_code,
        len(stack.stored_ids(SourceName.ZENN)),
    )


def test_a_one_megabyte_abstract_is_stored_whole_but_bounded_on_the_wire(stack: Stack) -> None:
    """A 1 MB abstract is stored intact; every LLM request stays small and the Slack post stays valid."""
    huge = "LLM retrieval " + "x" * 1_000_000
    stack.set_arxiv([arxiv_entry(1, "LLM paper with a huge abstract", huge), arxiv_entry(2, ARXIV_TITLES[1])])

    outcome = stack.run()

    stored = next(i for i in stack.stored() if i.title == "LLM paper with a huge abstract")
    sizes = [len(json.dumps(body, ensure_ascii=False)) for body in stack.llm.completions]
    expected = (len(huge), 6, True, 1, None)
    assert expected == (
        len(stored.text),
        outcome.digest.entry_count,
        max(sizes) < 20_000,
        len(stack.top_level()),
        next((r.error for r in stack.slack.requests if r.error), None),
    )


@pytest.mark.slow
def test_ten_thousand_entries_from_one_source_finish_with_the_others(stack: Stack) -> None:
    """10,000 arXiv papers in the window page in, are stored, and the digest still covers Qiita and Zenn."""
    stack.set_arxiv(synthetic_entries(10_000, start=WINDOW.start, end=WINDOW.end, llm_share=0.05))
    stack.configure(llm_model="")
    settings = stack.settings()
    arxiv = settings.app.sources.arxiv.model_copy(update={"page_size": 2000})
    sources = settings.app.sources.model_copy(update={"arxiv": arxiv})
    offline = settings.model_copy(update={"app": settings.app.model_copy(update={"sources": sources})})

    outcome = run_digest(offline, WINDOW, dry_run=False)

    stored = stack.stored()
    counts = {name: (count.fetched > 0, count.failed) for name, count in outcome.digest.sources.items()}
    expected = (10_004, 10_000, dict.fromkeys(("arxiv", "qiita", "zenn"), (True, False)), [])
    assert expected == (
        len(stored),
        sum(1 for i in stored if i.source is SourceName.ARXIV),
        counts,
        [r.error for r in stack.slack.requests if r.error],
    )
    assert len(stack.top_level()) >= 1
