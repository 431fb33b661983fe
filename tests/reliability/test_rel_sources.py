"""Sources misbehaving during a whole run: the run finishes with the others, the digest names the
failed source, and nothing stored earlier is lost."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

import pytest

from digestbot.domain import Item, SourceName, Window
from digestbot.runner import run_digest
from digestbot.store import ItemStore
from digestbot.testing.arxiv_server import Reply, synthetic_entries
from digestbot.testing.feed_server import RSS, Fault
from reliability.harness import (
    ARXIV_TITLES,
    DAYS,
    QIITA_FEED,
    QIITA_TITLES,
    ROOT,
    WINDOW,
    ZENN_FEED,
    ZENN_TITLES,
    Stack,
    arxiv_entry,
)

LABEL = {"arxiv": "arXiv", "qiita": "Qiita", "zenn": "Zenn"}
TITLES = {"arxiv": ARXIV_TITLES, "qiita": QIITA_TITLES, "zenn": ZENN_TITLES}
DECEMBER_2023 = Window.between(date(2023, 12, 1), date(2023, 12, 31), "Asia/Tokyo")
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


# --- one invalid UTF-8 byte in one entry --------------------------------------------------------------

ZENN_FIXTURE = ROOT / "tests" / "fixtures" / "zenn" / "zenn-topic-feed_swift_2023-12-29_20items.xml"
SPOILED_FIXTURE_TITLE = "【Swift】SwiftUI で表を実装する"


def spoil_one_byte(feed: bytes, inside: str) -> bytes:
    """`feed` with one byte of the first non-ASCII character of `inside` replaced by 0xFF."""
    offset = next(n for n, ch in enumerate(inside) if ord(ch) > 127)
    position = feed.index(inside.encode()) + len(inside[:offset].encode()) + 1
    return feed[:position] + b"\xff" + feed[position + 1 :]


def test_one_invalid_byte_in_one_entry_garbles_only_that_entry_and_is_warned(stack: Stack) -> None:
    """A Qiita and a Zenn feed each with one bad byte in one title: `digestbot run` keeps the other
    entries intact (「LLMアプリの監視入門」 stored and posted as it is), shows the bad one with U+FFFD,
    and warns in one line naming the feed and the entry (was: the whole feed mojibake, no warning)."""
    qiita = stack.feeds._resources[QIITA_FEED]
    zenn = stack.feeds._resources[ZENN_FEED]
    stack.feeds.publish(QIITA_FEED, spoil_one_byte(qiita[0], QIITA_TITLES[1]), qiita[1])
    stack.feeds.publish(ZENN_FEED, spoil_one_byte(zenn[0], ZENN_TITLES[1]), zenn[1])

    result = stack.cli("run", *DAYS)

    titles: dict[str, list[str]] = {"qiita": [], "zenn": [], "arxiv": []}
    for item in stack.stored():
        titles[item.source.value].append(item.title)
    warned = [line for line in result.output.splitlines() if "invalid UTF-8" in line]
    posted = "\n".join(stack.slack_payloads())
    expected = (0, [QIITA_TITLES[0]], [ZENN_TITLES[0]], [1, 1], 2, True, True, True)
    assert expected == (
        result.exit_code,
        [t for t in titles["qiita"] if "\ufffd" not in t],
        [t for t in titles["zenn"] if "\ufffd" not in t],
        [sum("\ufffd" in t for t in titles[s]) for s in ("qiita", "zenn")],
        len(warned),
        any(QIITA_FEED in line and QIITA_TITLES[1][-4:] in line for line in warned),
        any(ZENN_FEED in line and ZENN_TITLES[1][-4:] in line for line in warned),
        "LLMアプリの監視入門" in posted and QIITA_TITLES[0] in posted,
    ), result.output


def test_a_real_zenn_feed_with_one_bad_byte_keeps_its_other_nineteen_entries(stack: Stack) -> None:
    """The recorded Zenn topic feed (20 entries) with one byte spoiled in one title: `fetch` stores the
    19 other titles exactly as in the clean feed, the spoiled one with U+FFFD, and warns naming it."""
    clean = ZENN_FIXTURE.read_bytes()
    stack.feeds.publish(ZENN_FEED, clean, RSS)
    days = ["--from", "2023-12-01", "--to", "2023-12-31", "--source", "zenn"]
    assert 0 == stack.cli("fetch", *days).exit_code
    before = {item.url: item.title for item in stack_items(stack)}
    stack.feeds.publish(ZENN_FEED, spoil_one_byte(clean, SPOILED_FIXTURE_TITLE), RSS)

    result = stack.cli("fetch", *days)

    after = {item.url: item.title for item in stack_items(stack)}
    changed = {url: title for url, title in after.items() if before[url] != title}
    warned = [line for line in result.stdout.splitlines() if "invalid UTF-8" in line]
    expected = (0, 20, 1, True, 1, True)
    assert expected == (
        result.exit_code,
        len(after),
        len(changed),
        all("\ufffd" in t and t.endswith("を実装する") for t in changed.values()),
        len(warned),
        ZENN_FEED in warned[0] and "SwiftUI" in warned[0],
    ), result.stdout


def stack_items(stack: Stack) -> list[Item]:
    """Every Zenn item in the store (any window)."""
    with ItemStore(stack.settings().store_url) as store:
        return [i for i in store.items_in_window(DECEMBER_2023) if i.source is SourceName.ZENN]
