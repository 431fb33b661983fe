"""QiitaSource against the local feed server: tag feeds, API v2 paging, rate limits, merging, errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from digestbot.domain import Item, Popularity, SourceName, Window
from digestbot.settings import HttpConfig, QiitaConfig
from digestbot.sources.base import FetchLog, SourceError
from digestbot.sources.http import HttpFetcher
from digestbot.sources.qiita import QiitaSource
from digestbot.testing.feed_builders import render_qiita_tag_feed, synthetic_qiita_items
from digestbot.testing.feed_server import Fault, FeedServer

FIXTURES = Path(__file__).parent / "fixtures" / "qiita"
NOW = datetime(2025, 11, 24, 0, 0, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(days=7), NOW)
TOKEN = "qiita-token-abcdef0123456789"
TAGS = ("LLM", "生成AI", "RAG")


def qiita_item(
    item_id: str,
    created: str,
    *,
    title: str = "RAG入門",
    body: str = "# はじめに\nRAGの話です。",
    tags: tuple[str, ...] = ("LLM",),
    user: tuple[str, str] = ("alice", "アリス"),
    **fields: Any,
) -> dict[str, Any]:
    """An API v2 item with the real field set (taken from a synthetic one), the given values overriding."""
    item = synthetic_qiita_items(1, seed=0, end=NOW)[0]
    item.update(
        id=item_id,
        title=title,
        body=body,
        created_at=created,
        updated_at=created,
        url=f"https://qiita.com/{user[0]}/items/{item_id}",
        tags=[{"name": t, "versions": []} for t in tags],
        user={**item["user"], "id": user[0], "name": user[1]},
    )
    item.update(fields)
    return item


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer(qiita_token=TOKEN) as srv:
        yield srv


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def http(sleeps: list[float]) -> Iterator[HttpFetcher]:
    with HttpFetcher(HttpConfig(timeout_seconds=5, max_retries=3), sleep=sleeps.append) as fetcher:
        yield fetcher


def source(server: FeedServer, http: HttpFetcher, *, token: str | None = None, **config: Any) -> QiitaSource:
    settings = QiitaConfig(**{"base_url": server.base_url, "tags": TAGS, **config})
    return QiitaSource(settings, http, token=token)


def fetch(src: QiitaSource) -> tuple[list[Item], FetchLog]:
    log = FetchLog(SourceName.QIITA)
    return list(src.fetch(WINDOW, log)), log


def test_feed_entry_becomes_a_normalized_item(server: FeedServer, http: HttpFetcher) -> None:
    """Id from the link's hex segment, text from the HTML excerpt, times as aware UTC, tag from the feed."""
    raw = qiita_item(
        "54d4209a700ec4584083",
        "2025-11-20T23:30:00+09:00",
        title='【LLM】"RAG" を試す [入門]',
        summary="はじめに\narXiv:2401.10491 の手法 -> 実装…",
        updated_at="2025-11-21T10:00:00+09:00",
    )
    server.publish_qiita([raw], tags=["LLM"])
    items, log = fetch(source(server, http, tags=("LLM",)))
    expected = Item(
        id="qiita:54d4209a700ec4584083",
        source=SourceName.QIITA,
        url="https://qiita.com/alice/items/54d4209a700ec4584083",
        title='【LLM】"RAG" を試す [入門]',
        text="はじめに arXiv:2401.10491 の手法 -> 実装…",
        published=datetime(2025, 11, 20, 14, 30, tzinfo=UTC),
        updated=datetime(2025, 11, 21, 1, 0, tzinfo=UTC),
        authors=("alice",),
        language="ja",
        tags=("LLM",),
        mentioned_arxiv_ids=("2401.10491",),
    )
    assert [expected] == items
    expected = ([], [], 1)
    assert expected == (log.warnings, log.errors, log.requests)


def test_double_escaped_excerpt_is_decoded_exactly_once(server: FeedServer, http: HttpFetcher) -> None:
    """The feed writes `->` as `-&amp;gt;`; the item text gets `->` while a literal `&amp;` survives."""
    summary = "入力 -> 出力 & <div> と &amp; と &lt;T&gt; の話…"
    server.publish_qiita([qiita_item("0123456789abcdef0123", "2025-11-20T12:00:00+09:00", summary=summary)])
    items, _ = fetch(source(server, http, tags=("LLM",)))
    expected = [summary]
    assert expected == [item.text for item in items]


def test_feed_builder_writes_qiita_style_double_escaping() -> None:
    """The fake's feed holds `-&amp;gt;`, a non-Atom `<url>`, and `xml:lang="ja-JP"` like the real one."""
    body = render_qiita_tag_feed(
        "LLM", [qiita_item("0123456789abcdef0123", "2025-11-20T12:00:00+09:00", summary="a -> b")]
    )
    expected = (True, True, True)
    assert expected == (
        b"a -&amp;gt; b" in body,
        b"<url>https://qiita.com/" in body,
        b'xml:lang="ja-JP"' in body,
    )


def test_japanese_tag_is_percent_encoded_in_the_url(server: FeedServer, http: HttpFetcher) -> None:
    """Tag 生成AI is fetched from /tags/%E7%94%9F%E6%88%90ai/feed (lower-cased like Qiita's URLs)."""
    server.publish_qiita([qiita_item("0123456789abcdef0123", "2025-11-20T12:00:00+09:00", tags=("生成AI",))])
    src = source(server, http, tags=("生成AI",))
    items, _ = fetch(src)
    expected = (f"{server.base_url}/tags/%E7%94%9F%E6%88%90ai/feed", "/tags/生成ai/feed", [("生成AI",)])
    assert expected == (src.tag_feed_url("生成AI"), server.requests[0].path, [i.tags for i in items])


def test_items_outside_the_window_are_dropped(server: FeedServer, http: HttpFetcher) -> None:
    """Only entries published in [start, end) are kept."""
    server.publish_qiita([
        qiita_item("a" * 20, "2025-11-16T23:59:00+00:00"),
        qiita_item("b" * 20, "2025-11-17T00:00:00+00:00"),
        qiita_item("c" * 20, "2025-11-23T23:59:59+00:00"),
        qiita_item("d" * 20, "2025-11-24T00:00:00+00:00"),
    ])  # fmt: skip
    items, _ = fetch(source(server, http, tags=("LLM",)))
    expected = ["qiita:" + "b" * 20, "qiita:" + "c" * 20]
    assert expected == [i.id for i in items]


def test_tags_are_merged_across_feeds(server: FeedServer, http: HttpFetcher) -> None:
    """An article in both the LLM and RAG feeds is one item tagged with both."""
    server.publish_qiita([qiita_item("e" * 20, "2025-11-20T12:00:00+09:00", tags=("LLM", "RAG"))], tags=TAGS)
    items, _ = fetch(source(server, http))
    expected = [("LLM", "RAG")]
    assert expected == [i.tags for i in items]


def test_one_tag_feed_down_the_others_are_kept(
    server: FeedServer, http: HttpFetcher, sleeps: list[float]
) -> None:
    """A feed stuck at 503 is logged as an error after retries; items of the other feeds still come."""
    server.publish_qiita(synthetic_qiita_items(30, seed=5, end=NOW, tags=TAGS), tags=TAGS)
    server.fail("/tags/rag/feed", Fault(status=503), times=None)
    items, log = fetch(source(server, http))
    host = server.base_url.removeprefix("http://")
    expected = ([f"{host}/tags/rag/feed: HTTP 503 after 3 retries"], [1.0, 2.0, 4.0], True)
    assert expected == (log.errors, sleeps, bool(items))
    assert "RAG" not in {tag for item in items for tag in item.tags}


def test_all_tag_feeds_down_raises(server: FeedServer, http: HttpFetcher) -> None:
    """When every tag feed fails and there is no API, the source fails with the first cause."""
    with pytest.raises(SourceError) as caught:
        fetch(source(server, http, tags=("LLM", "RAG")))
    assert str(caught.value).startswith("qiita: all 2 tag feeds failed (first: ")


def test_malformed_feed_warns_and_keeps_entries(server: FeedServer, http: HttpFetcher) -> None:
    """A truncated tag feed is a warning in the log, and its complete entries are kept."""
    server.publish_qiita(synthetic_qiita_items(10, seed=6, end=NOW, days=5, tags=("LLM",)), tags=["LLM"])
    server.fail("/tags/llm/feed", Fault(cut=0.6))
    items, log = fetch(source(server, http, tags=("LLM",)))
    assert 0 < len(items) < 10
    expected = 1
    assert expected == len(log.warnings)
    assert "feed is malformed but usable" in log.warnings[0]


def test_no_token_means_no_api_requests(server: FeedServer, http: HttpFetcher) -> None:
    """Without a token only the tag feeds are read."""
    server.publish_qiita(synthetic_qiita_items(5, seed=7, end=NOW, tags=TAGS), tags=TAGS)
    fetch(source(server, http))
    expected = []
    assert expected == server.requests_to("/api/v2/items")


def test_api_query_uses_jst_dates_and_or_tags(server: FeedServer, http: HttpFetcher) -> None:
    """The search covers the window's JST days and any of the tags."""
    expected = "created:>=2025-11-17 created:<=2025-11-24 tag:LLM OR tag:生成AI OR tag:RAG"
    assert expected == source(server, http).api_query(WINDOW)


def test_api_pages_are_followed_through_the_link_header(server: FeedServer, http: HttpFetcher) -> None:
    """250 matching items at per_page=100 take 3 pages; the token and query go out; counts come back."""
    data = synthetic_qiita_items(250, seed=8, end=NOW, days=6.5, tags=TAGS)
    server.publish_qiita(data, tags=TAGS, feed_limit=20)
    items, log = fetch(source(server, http, token=TOKEN))
    calls = server.requests_to("/api/v2/items")
    expected_calls = [("1", "100"), ("2", "100"), ("3", "100")]
    assert expected_calls == [(c.param("page"), c.param("per_page")) for c in calls]
    assert {f"Bearer {TOKEN}"} == {c.headers["authorization"] for c in calls}
    assert {source(server, http).api_query(WINDOW)} == {c.param("query") for c in calls}
    by_id = {i.id: i for i in items}
    first = data[0]
    expected = (
        250,
        Popularity(
            likes=first["likes_count"], stocks=first["stocks_count"], comments=first["comments_count"]
        ),
    )
    assert expected == (len(items), by_id[f"qiita:{first['id']}"].popularity)
    expected = ([], [])
    assert expected == (log.warnings, log.errors)


def test_api_stops_at_max_pages_with_a_warning(server: FeedServer, http: HttpFetcher) -> None:
    """max_pages=2 reads two pages and says the results were cut."""
    server.publish_qiita(synthetic_qiita_items(250, seed=9, end=NOW, days=6, tags=TAGS), tags=TAGS)
    _, log = fetch(source(server, http, token=TOKEN, max_pages=2))
    expected = (2, ["qiita: API results cut after max_pages=2 pages"])
    assert expected == (len(server.requests_to("/api/v2/items")), log.warnings)


def test_low_rate_limit_stops_paging_and_says_when_it_resets(server: FeedServer, http: HttpFetcher) -> None:
    """With Rate-Remaining below min_rate_remaining the source stops and warns with the reset time."""
    server.publish_qiita(synthetic_qiita_items(250, seed=10, end=NOW, days=6, tags=TAGS), tags=TAGS)
    server.rate_remaining = 5
    server.rate_reset = int(datetime(2025, 11, 24, 3, 0, tzinfo=UTC).timestamp())
    _, log = fetch(source(server, http, token=TOKEN, min_rate_remaining=5))
    expected = (
        1,
        [
            "qiita: API quota low (4 requests left), stopped after page 1; "
            + "the quota resets at 2025-11-24 12:00 JST"
        ],
    )
    assert expected == (len(server.requests_to("/api/v2/items")), log.warnings)


def test_api_item_wins_over_the_feed_item(server: FeedServer, http: HttpFetcher) -> None:
    """Same id in feed and API: the API's name, body text, counts and tags win; the feed's tag is kept."""
    raw = qiita_item(
        "f" * 20,
        "2025-11-20T12:00:00+09:00",
        body="# 概要\nLangChainで**RAG**を作る。詳細は https://arxiv.org/abs/2005.11401v4 を参照。\n"
        "```py\nx=1\n```",
        tags=("llm", "Python"),
        likes_count=12,
        stocks_count=4,
        comments_count=1,
    )
    server.publish_qiita([raw], tags=["LLM"])
    items, _ = fetch(source(server, http, token=TOKEN, tags=("LLM",)))
    expected = (
        ("アリス",),
        "概要 LangChainでRAGを作る。詳細は https://arxiv.org/abs/2005.11401v4 を参照。",
        Popularity(likes=12, stocks=4, comments=1),
        ("LLM", "Python"),
        ("2005.11401",),
    )
    (item,) = items
    assert expected == (item.authors, item.text, item.popularity, item.tags, item.mentioned_arxiv_ids)


def test_user_name_falls_back_to_the_id(server: FeedServer, http: HttpFetcher) -> None:
    """An empty `user.name` (common on Qiita) gives the user id as the author."""
    server.publish_qiita([qiita_item("1" * 20, "2025-11-20T12:00:00+09:00", user=("nishitaku", ""))], tags=[])
    items, _ = fetch(source(server, http, token=TOKEN, tags=("LLM",)))
    expected = [("nishitaku",)]
    assert expected == [i.authors for i in items]


def test_long_api_body_is_truncated(server: FeedServer, http: HttpFetcher) -> None:
    """A long Markdown body becomes at most 2000 characters of plain text ending with an ellipsis."""
    body = "## 章\n" + "長い本文です。" * 600
    server.publish_qiita([qiita_item("2" * 20, "2025-11-20T12:00:00+09:00", body=body)], tags=[])
    (item,) = fetch(source(server, http, token=TOKEN, tags=("LLM",)))[0]
    expected = (True, True)
    assert expected == (len(item.text) <= 2000, item.text.endswith("…"))


def test_wrong_token_is_an_error_but_feeds_still_count_and_token_stays_secret(
    server: FeedServer, http: HttpFetcher, caplog: pytest.LogCaptureFixture
) -> None:
    """A 401 carries Qiita's message into the log; feed items are still returned; the token is never shown."""
    server.publish_qiita(synthetic_qiita_items(5, seed=11, end=NOW, days=5, tags=("LLM",)), tags=["LLM"])
    wrong = "wrong-token-9876543210"
    caplog.set_level(logging.DEBUG)
    items, log = fetch(source(server, http, token=wrong, tags=("LLM",)))
    host = server.base_url.removeprefix("http://")
    expected = ([f"{host}/api/v2/items: HTTP 401 (Unauthorized)"], 5)
    assert expected == (log.errors, len(items))
    shown = " ".join([*log.errors, *log.warnings, caplog.text])
    assert wrong not in shown


def test_synthetic_items_carry_the_real_api_field_set() -> None:
    """Every field of the real (edited) API excerpt exists in the synthetic items, user fields included."""
    text = (FIXTURES / "qiita-api-v2-items_query-user-nishitaku_EXCERPT-edited.json.txt").read_text()
    real = json.loads(text.replace("},\n]", "}\n]"))[0]  # the blogger left a trailing comma
    fake = synthetic_qiita_items(1, seed=1, end=NOW)[0]
    real_user = set(real["user"]) - {
        "facebook_id",
        "linkedin_id",
        "twitter_screen_name",
        "website_url",
        "profile_image_url",
        "followees_count",
    }
    assert (set(), set()) == (set(real) - set(fake), real_user - set(fake["user"]))
