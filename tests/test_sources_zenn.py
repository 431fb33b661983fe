"""ZennSource against the local feed server: the real recorded feed and API JSON, CDATA text, enrichment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from digestbot.domain import Item, Popularity, SourceName, Window
from digestbot.settings import HttpConfig, ZennConfig
from digestbot.sources.base import FetchLog, SourceError
from digestbot.sources.http import HttpFetcher
from digestbot.sources.zenn import ZennSource
from digestbot.testing.feed_builders import render_zenn_topic_feed, synthetic_zenn_articles
from digestbot.testing.feed_server import JSON, RSS, Fault, FeedServer

FIXTURES = Path(__file__).parent / "fixtures" / "zenn"
REAL_FEED = FIXTURES / "zenn-topic-feed_swift_2023-12-29_20items.xml"
REAL_API = FIXTURES / "zenn-api-articles_username-katzumi_count96_22articles.json"
DECEMBER_2023 = Window(datetime(2023, 12, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))
NOW = datetime(2025, 11, 24, 0, 0, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(days=7), NOW)
TOPICS = ("llm", "生成ai", "rag")


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def http(sleeps: list[float]) -> Iterator[HttpFetcher]:
    with HttpFetcher(HttpConfig(timeout_seconds=5, max_retries=2), sleep=sleeps.append) as fetcher:
        yield fetcher


def source(server: FeedServer, http: HttpFetcher, **config: Any) -> ZennSource:
    return ZennSource(ZennConfig(**{"base_url": server.base_url, "topics": TOPICS, **config}), http)


def fetch(src: ZennSource, window: Window = WINDOW) -> tuple[list[Item], FetchLog]:
    log = FetchLog(SourceName.ZENN)
    return list(src.fetch(window, log)), log


def test_real_feed_entry_becomes_a_normalized_item(server: FeedServer, http: HttpFetcher) -> None:
    """The recorded swift feed: slug id, publication-owned URL, dc:creator, GMT pubDate as UTC, CDATA text."""
    server.publish("/topics/swift/feed", REAL_FEED.read_bytes(), RSS)
    items, log = fetch(source(server, http, topics=("swift",), enrich_with_api=False), DECEMBER_2023)
    newest = items[-1]
    expected = Item(
        id="zenn:f5f6f9f9b89695",
        source=SourceName.ZENN,
        url="https://zenn.dev/dena/articles/f5f6f9f9b89695",
        title="[SF-0001] Calendar Sequence Enumeration の解説",
        text=newest.text,
        published=datetime(2023, 12, 29, 3, 17, 53, tzinfo=UTC),
        updated=datetime(2023, 12, 29, 3, 17, 53, tzinfo=UTC),
        authors=("ojun",),
        language="ja",
        tags=("swift",),
    )
    assert expected == newest
    assert newest.text.startswith(
        "この記事はSwiftWednesday Advent Calendar 2023の21日目の記事です。 昨日は @sugiy"
    )
    assert newest.text.endswith("に焦点を当てています。（...")
    assert (20, {"ja"}, [], 1) == (len(items), {i.language for i in items}, log.warnings, log.requests)


def test_real_feed_text_has_collapsed_whitespace(server: FeedServer, http: HttpFetcher) -> None:
    """A description starting with a newline and flattened headings reads as one line."""
    server.publish("/topics/swift/feed", REAL_FEED.read_bytes(), RSS)
    items, _ = fetch(source(server, http, topics=("swift",), enrich_with_api=False), DECEMBER_2023)
    by_id = {i.id: i for i in items}
    expected = "先にまとめ Git Hooks の post-commit で半自動的にコードフォーマッターをかける"
    assert by_id["zenn:fde932c555f801"].text.startswith(expected)


def test_cdata_text_is_taken_literally(server: FeedServer, http: HttpFetcher) -> None:
    """CDATA is the only escaping layer: `Array<String>`, `a < b` and a literal `&amp;` stay as written."""
    (article,) = synthetic_zenn_articles(1, seed=1, end=NOW, days=2, topics=("llm",))
    article["title"] = "SwiftのArray<String>と Result<T, E> 入門"
    article["description"] = "\n Array<String> と if a < b { } -> x & y &amp; z <b>太字ではない</b>..."
    server.publish_zenn([article], topics=["llm"])
    items, _ = fetch(source(server, http, topics=("llm",), enrich_with_api=False))
    expected = [
        (
            "SwiftのArray<String>と Result<T, E> 入門",
            "Array<String> と if a < b { } -> x & y &amp; z <b>太字ではない</b>...",
        )
    ]
    assert expected == [(i.title, i.text) for i in items]


def test_items_outside_the_window_are_dropped(server: FeedServer, http: HttpFetcher) -> None:
    """Only articles published inside the window are returned."""
    articles = synthetic_zenn_articles(20, seed=2, end=NOW, days=14, topics=("llm",))
    server.publish_zenn(articles, topics=["llm"])
    items, _ = fetch(source(server, http, topics=("llm",), enrich_with_api=False))
    inside = {
        f"zenn:{a['slug']}" for a in articles if WINDOW.contains(datetime.fromisoformat(a["published_at"]))
    }
    assert (inside, True) == ({i.id for i in items}, 0 < len(inside) < 20)


def test_tags_are_merged_across_topics(server: FeedServer, http: HttpFetcher) -> None:
    """An article listed under two topics is one item with both topics as tags."""
    (article,) = synthetic_zenn_articles(1, seed=3, end=NOW, days=2)
    article["topics"] = ["llm", "rag"]
    server.publish_zenn([article], topics=TOPICS)
    items, _ = fetch(source(server, http, enrich_with_api=False))
    expected = [("llm", "rag")]
    assert expected == [i.tags for i in items]


def test_api_enrichment_matches_by_slug(server: FeedServer, http: HttpFetcher) -> None:
    """Liked, bookmarked and comment counts from the JSON listing land on the feed's items."""
    articles = synthetic_zenn_articles(10, seed=4, end=NOW, days=5, topics=("llm",))
    server.publish_zenn(articles, topics=["llm"])
    items, log = fetch(source(server, http, topics=("llm",)))
    expected = {
        f"zenn:{a['slug']}": Popularity(
            likes=a["liked_count"], bookmarks=a["bookmarked_count"], comments=a["comments_count"]
        )
        for a in articles
    }
    assert expected == {i.id: i.popularity for i in items}
    calls = server.requests_to("/api/articles")
    expected_call = ("llm", "latest", "48", "1")
    assert expected_call == (
        calls[0].param("topicname"),
        calls[0].param("order"),
        calls[0].param("count"),
        calls[0].param("page"),
    )
    expected = ([], [])
    assert expected == (log.warnings, log.errors)


def test_api_adds_in_window_articles_the_feed_missed(server: FeedServer, http: HttpFetcher) -> None:
    """A feed of the newest 5 plus an API listing all 30 gives every in-window article, URLs on zenn.dev."""
    articles = synthetic_zenn_articles(30, seed=5, end=NOW, days=6, topics=("llm",))
    server.publish_zenn(articles, topics=["llm"], feed_limit=5)
    items, _ = fetch(source(server, http, topics=("llm",)))
    by_id = {i.id: i for i in items}
    oldest = articles[-1]
    expected = (30, f"https://zenn.dev{oldest['path']}", "", (oldest["user"]["name"],))
    added = by_id[f"zenn:{oldest['slug']}"]
    assert expected == (len(items), added.url, added.text, added.authors)


def test_real_api_json_adds_in_window_articles(server: FeedServer, http: HttpFetcher) -> None:
    """The recorded katzumi listing (no bookmarked_count in 2023) adds its two October articles."""
    server.publish("/topics/swift/feed", REAL_FEED.read_bytes(), RSS)
    server.publish("/api/articles", REAL_API.read_bytes(), JSON)
    october = Window(datetime(2023, 10, 1, tzinfo=UTC), datetime(2023, 10, 20, tzinfo=UTC))
    items, log = fetch(source(server, http, topics=("swift",)), october)
    expected = [
        (
            "zenn:php-conference-japan-2023-slides-link",
            "https://zenn.dev/katzumi/articles/php-conference-japan-2023-slides-link",
            "PHP Conference Japan 2023 スライドまとめ",
            datetime(2023, 10, 9, 16, 58, 55, 412000, tzinfo=UTC),
            Popularity(likes=31, bookmarks=None, comments=0),
        ),
        (
            "zenn:php-conference-japan-2023",
            "https://zenn.dev/katzumi/articles/php-conference-japan-2023",
            "PHP Conference Japan 2023 参加レポート",
            datetime(2023, 10, 15, 7, 55, 28, 647000, tzinfo=UTC),
            Popularity(likes=2, bookmarks=None, comments=0),
        ),
    ]
    assert expected == [(i.id, i.url, i.title, i.published, i.popularity) for i in items]
    expected = (1, [])
    assert expected == (len(server.requests_to("/api/articles")), log.warnings)


def test_real_feed_item_is_enriched_from_a_listing_with_its_slug(
    server: FeedServer, http: HttpFetcher
) -> None:
    """A listing entry (real katzumi field set) carrying a feed slug gives that feed item its counts."""
    listing = json.loads(REAL_API.read_bytes())
    entry = dict(
        listing["articles"][0], slug="f5f6f9f9b89695", path="/dena/articles/f5f6f9f9b89695", liked_count=17
    )
    server.publish("/topics/swift/feed", REAL_FEED.read_bytes(), RSS)
    server.publish("/api/articles", json.dumps({"articles": [entry], "next_page": None}).encode(), JSON)
    items, _ = fetch(source(server, http, topics=("swift",)), DECEMBER_2023)
    by_id = {i.id: i for i in items}
    expected = (20, Popularity(likes=17, comments=0), "ojun")
    item = by_id["zenn:f5f6f9f9b89695"]
    assert expected == (len(items), item.popularity, item.authors[0])


def test_api_paging_stops_once_past_the_window(server: FeedServer, http: HttpFetcher) -> None:
    """With 100 articles over 60 days, the first page already reaches before the window: one request."""
    server.publish_zenn(
        synthetic_zenn_articles(100, seed=6, end=NOW, days=60, topics=("llm",)), topics=["llm"]
    )
    fetch(source(server, http, topics=("llm",), api_pages=3))
    expected = ["1"]
    assert expected == [c.param("page") for c in server.requests_to("/api/articles")]


def test_api_paging_follows_next_page_up_to_api_pages(server: FeedServer, http: HttpFetcher) -> None:
    """When every listed article is in the window, pages 1..api_pages are read."""
    server.publish_zenn(
        synthetic_zenn_articles(150, seed=7, end=NOW, days=6, topics=("llm",)), topics=["llm"]
    )
    fetch(source(server, http, topics=("llm",), api_pages=2))
    expected = ["1", "2"]
    assert expected == [c.param("page") for c in server.requests_to("/api/articles")]


def test_api_failure_is_only_a_warning(server: FeedServer, http: HttpFetcher, sleeps: list[float]) -> None:
    """The unofficial API stuck at 503: feed items come back, one warning, no error, no real waiting."""
    server.publish_zenn(synthetic_zenn_articles(8, seed=8, end=NOW, days=5, topics=("llm",)), topics=["llm"])
    server.fail("/api/articles", Fault(status=503), times=None)
    items, log = fetch(source(server, http, topics=("llm",)))
    host = server.base_url.removeprefix("http://")
    cause = f"{host}/api/articles: HTTP 503 after 2 retries"
    message = f"zenn: like counts unavailable, the unofficial JSON API failed ({cause})"
    expected = (8, [message], [], [1.0, 2.0])
    assert expected == (len(items), log.warnings, log.errors, sleeps)


def test_api_answering_html_is_only_a_warning(server: FeedServer, http: HttpFetcher) -> None:
    """An HTML page where JSON was expected is reported as 'not JSON' in a warning."""
    server.publish_zenn(synthetic_zenn_articles(3, seed=9, end=NOW, days=5, topics=("llm",)), topics=["llm"])
    server.fail("/api/articles", Fault(body=b"<html>maintenance</html>", content_type="text/html"))
    items, log = fetch(source(server, http, topics=("llm",)))
    expected = (3, 1, True)
    assert expected == (
        len(items),
        len(log.warnings),
        "response is not JSON (text/html" in log.warnings[0],
    )


def test_enrichment_disabled_sends_no_api_requests(server: FeedServer, http: HttpFetcher) -> None:
    """enrich_with_api=false reads only the feeds; popularity stays unknown."""
    server.publish_zenn(synthetic_zenn_articles(3, seed=10, end=NOW, days=5, topics=("llm",)), topics=["llm"])
    items, _ = fetch(source(server, http, topics=("llm",), enrich_with_api=False))
    expected = ([], {Popularity()})
    assert expected == (server.requests_to("/api/articles"), {i.popularity for i in items})


def test_one_topic_down_the_others_are_kept(server: FeedServer, http: HttpFetcher) -> None:
    """A topic feed answering 404 is an error in the log; the other topics still give items."""
    articles = synthetic_zenn_articles(12, seed=11, end=NOW, days=5, topics=("llm", "rag"))
    server.publish_zenn(articles, topics=["llm", "rag"])
    items, log = fetch(source(server, http, enrich_with_api=False))
    host = server.base_url.removeprefix("http://")
    expected = ([f"{host}/topics/生成ai/feed: HTTP 404"], True)
    assert expected == (log.errors, len(items) > 0)


def test_all_topics_down_raises(server: FeedServer, http: HttpFetcher) -> None:
    """Every topic feed failing (and nothing from the API) fails the source."""
    with pytest.raises(SourceError) as caught:
        fetch(source(server, http, topics=("llm", "rag"), enrich_with_api=False))
    assert str(caught.value).startswith("zenn: all 2 topic feeds failed (first: ")


def test_mentioned_arxiv_ids_come_from_the_description(server: FeedServer, http: HttpFetcher) -> None:
    """An arXiv link in the excerpt is recorded without its version."""
    (article,) = synthetic_zenn_articles(1, seed=12, end=NOW, days=2, topics=("llm",))
    article["description"] = "論文 https://arxiv.org/abs/2401.10491v2 を読みました..."
    server.publish_zenn([article], topics=["llm"])
    items, _ = fetch(source(server, http, topics=("llm",), enrich_with_api=False))
    expected = [("2401.10491",)]
    assert expected == [i.mentioned_arxiv_ids for i in items]


def test_feed_builder_renders_zenn_style_rss() -> None:
    """The fake's feed has CDATA text, dc:creator, an enclosure and RFC 822 GMT dates like the real one."""
    (article,) = synthetic_zenn_articles(1, seed=13, end=NOW, days=2, topics=("llm",))
    body = render_zenn_topic_feed("llm", [article]).decode()
    expected = (True, True, True, True)
    assert expected == (
        f"<title><![CDATA[{article['title']}]]></title>" in body,
        f"<dc:creator>{article['user']['name']}</dc:creator>" in body,
        'length="0" type="image/png"/>' in body,
        " GMT</pubDate>" in body,
    )
