"""Zenn: topic RSS feeds, optionally enriched with like counts from Zenn's unofficial JSON listing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

from digestbot.domain import Item, Popularity, SourceName, Window
from digestbot.settings import ZennConfig
from digestbot.sources.base import FetchLog, SourceError
from digestbot.sources.feeds import gather, items_in_window, read_feed
from digestbot.sources.http import HttpError, HttpFetcher, NotModified, describe_url, feed_time, read_json
from digestbot.sources.text import collapse_ws, detect_language, find_arxiv_ids, merge_tags

ZENN_WEB = "https://zenn.dev"  # article URLs shown to users; `config.base_url` is where we fetch from
API_PAGE_SIZE = 48


class ZennSource:
    """Fetches Zenn articles in `config.topics` published inside the window."""

    name = SourceName.ZENN

    def __init__(self, config: ZennConfig, http: HttpFetcher) -> None:
        self._config = config
        self._http = http
        self._base = config.base_url.rstrip("/")

    def fetch(self, window: Window, log: FetchLog) -> Iterator[Item]:
        """Topic feeds, then optional API enrichment (its failure is only a warning)."""
        items: dict[str, Item] = {}
        failures = gather(
            self._config.topics, lambda topic: self._fetch_topic(topic, window, log), items, log
        )
        if self._config.enrich_with_api:
            try:
                for topic in self._config.topics:
                    self._enrich(topic, window, items, log)
            except SourceError as exc:
                log.warn(f"zenn: like counts unavailable, the unofficial JSON API failed ({exc})")
        if failures and len(failures) == len(self._config.topics) and not items:
            raise SourceError(f"zenn: all {len(failures)} topic feeds failed (first: {failures[0]})")
        return iter(sorted(items.values(), key=lambda i: (i.published, i.id)))

    def topic_feed_url(self, topic: str) -> str:
        return f"{self._base}/topics/{quote(topic.lower(), safe='')}/feed"

    def _fetch_topic(self, topic: str, window: Window, log: FetchLog) -> list[Item]:
        parsed = read_feed(self._http, self.topic_feed_url(topic), log)
        if parsed is None:
            return []
        descriptions = raw_descriptions(parsed.content)
        return items_in_window(parsed, window, log, lambda entry: _feed_item(entry, topic, descriptions))

    def _enrich(self, topic: str, window: Window, items: dict[str, Item], log: FetchLog) -> None:
        """Counts for the feed's articles by slug; in-window articles the feed missed are added."""
        for page in range(1, self._config.api_pages + 1):
            log.requests += 1
            params: dict[str, str | int] = {"topicname": topic, "order": "latest", "count": API_PAGE_SIZE}
            response = self._http.get(f"{self._base}/api/articles", params={**params, "page": page})
            if isinstance(response, NotModified):
                return
            data = read_json(response)
            articles = data.get("articles") if isinstance(data, Mapping) else None
            if not isinstance(articles, list):
                where = describe_url(response.url)
                raise HttpError(f"{where}: unexpected JSON (no articles list)", url=str(response.url))
            oldest: datetime | None = None
            for raw in articles:
                found = _api_item(raw, topic) if isinstance(raw, Mapping) else None
                if found is None:
                    continue
                oldest = found.published if oldest is None else min(oldest, found.published)
                old = items.get(found.id)
                if old is not None:
                    items[found.id] = dataclasses.replace(
                        old, popularity=found.popularity, tags=merge_tags(old.tags, found.tags)
                    )
                elif window.contains(found.published):
                    items[found.id] = found
            if data.get("next_page") is None or (oldest is not None and oldest < window.start):
                return


def raw_descriptions(content: bytes) -> dict[str, str]:
    """`<description>` text per item link, read straight from the XML.

    Zenn descriptions are plain text in CDATA (the XML layer is the only escaping), but feedparser
    treats them as HTML and eats `Array<String>`; so read them with a plain XML parser. Empty when the
    document is not well-formed (then feedparser's summary is used).
    """
    try:
        # expat (>= 2.4) refuses entity-expansion bombs; the body is a feed we asked for.
        root = ElementTree.fromstring(content)  # noqa: S314
    except ElementTree.ParseError:
        return {}
    found: dict[str, str] = {}
    for element in root.iter("item"):
        link = (element.findtext("link") or element.findtext("guid") or "").strip()
        description = element.findtext("description")
        if link and description is not None:
            found[link] = description
    return found


def _slug(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def _feed_item(entry: Mapping[str, Any], topic: str, descriptions: Mapping[str, str]) -> Item | None:
    url = (entry.get("link") or entry.get("id") or "").strip()
    slug = _slug(url)
    published = feed_time(entry.get("published_parsed") or entry.get("updated_parsed"))
    if not slug or published is None:
        return None
    text = collapse_ws(descriptions.get(url, entry.get("summary", "")))  # CDATA: no entity decoding
    title = collapse_ws(entry.get("title", ""))
    author = entry.get("author")
    return Item(
        id=f"zenn:{slug}",
        source=SourceName.ZENN,
        url=url,
        title=title,
        text=text,
        published=published,
        updated=published,
        authors=(author,) if author else (),
        language=detect_language(f"{title} {text}"),
        tags=(topic,),
        mentioned_arxiv_ids=find_arxiv_ids(f"{title}\n{text}"),
    )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _api_item(raw: Mapping[str, Any], topic: str) -> Item | None:
    """One article of the JSON listing (no body: the listing has none). None when malformed."""
    try:
        slug, path, title = str(raw["slug"]), str(raw["path"]), collapse_ws(str(raw["title"]))
        published = _aware(raw["published_at"])
        updated = _aware(raw.get("body_updated_at") or raw["published_at"])
    except (KeyError, ValueError):
        return None
    if not slug:
        return None
    user = raw.get("user")
    user = user if isinstance(user, Mapping) else {}
    author = str(user.get("name") or user.get("username") or "")
    return Item(
        id=f"zenn:{slug}",
        source=SourceName.ZENN,
        url=ZENN_WEB + path,
        title=title,
        text="",
        published=published,
        updated=max(updated, published),
        authors=(author,) if author else (),
        language=detect_language(title),
        tags=(topic,),
        popularity=Popularity(
            likes=_count(raw.get("liked_count")),
            bookmarks=_count(raw.get("bookmarked_count")),
            comments=_count(raw.get("comments_count")),
        ),
        mentioned_arxiv_ids=find_arxiv_ids(title),
    )


def _aware(value: Any) -> datetime:
    """An ISO 8601 timestamp with an offset, as UTC; ValueError when it has none."""
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    return moment.astimezone(UTC)
