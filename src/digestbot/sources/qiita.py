"""Qiita: tag Atom feeds, plus API v2 search when a token is set (full coverage and like counts)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import httpx

from digestbot.domain import Item, Popularity, SourceName, Window
from digestbot.settings import QiitaConfig
from digestbot.sources.base import FetchLog, SourceError
from digestbot.sources.feeds import gather, items_in_window, read_feed
from digestbot.sources.http import HttpError, HttpFetcher, NotModified, describe_url, feed_time, read_json
from digestbot.sources.text import (
    collapse_ws,
    detect_language,
    find_arxiv_ids,
    markdown_to_text,
    merge_tags,
    strip_html,
    truncate,
)

JST = ZoneInfo("Asia/Tokyo")
BODY_CHARS = 2000  # API bodies are whole articles; the summarizer needs the opening, not all of it


class QiitaSource:
    """Fetches Qiita articles tagged with `config.tags` and published inside the window."""

    name = SourceName.QIITA

    def __init__(self, config: QiitaConfig, http: HttpFetcher, *, token: str | None = None) -> None:
        self._config = config
        self._http = http
        self._token = token or None
        self._base = config.base_url.rstrip("/")

    def fetch(self, window: Window, log: FetchLog) -> Iterator[Item]:
        """Tag feeds always; the API too when a token is set. One feed failing is logged, not fatal."""
        items: dict[str, Item] = {}
        failures = gather(self._config.tags, lambda tag: self._fetch_tag(tag, window, log), items, log)
        api_ok = False
        if self._token:
            try:
                for item in self._fetch_api(window, log):
                    items[item.id] = _prefer_api(item, items.get(item.id))
                api_ok = True
            except SourceError as exc:
                log.error(str(exc))
        if failures and len(failures) == len(self._config.tags) and not api_ok:
            raise SourceError(f"qiita: all {len(failures)} tag feeds failed (first: {failures[0]})")
        return iter(sorted(items.values(), key=lambda i: (i.published, i.id)))

    # --- tag feeds ---------------------------------------------------------------------------------

    def tag_feed_url(self, tag: str) -> str:
        """`<base>/tags/<tag>/feed`, tag lower-cased as in Qiita's own URLs and percent-encoded."""
        return f"{self._base}/tags/{quote(tag.lower(), safe='')}/feed"

    def _fetch_tag(self, tag: str, window: Window, log: FetchLog) -> list[Item]:
        parsed = read_feed(self._http, self.tag_feed_url(tag), log)
        if parsed is None:
            return []
        return items_in_window(parsed, window, log, lambda entry: _feed_item(entry, tag))

    # --- API v2 ------------------------------------------------------------------------------------

    def api_query(self, window: Window) -> str:
        """`created:>=… created:<=… tag:A OR tag:B`, dates in JST as Qiita counts them."""
        first = window.start.astimezone(JST).date()
        last = (window.end - timedelta(microseconds=1)).astimezone(JST).date()
        tags = " OR ".join(f"tag:{tag}" for tag in self._config.tags)
        return f"created:>={first:%Y-%m-%d} created:<={last:%Y-%m-%d} {tags}".strip()

    def _fetch_api(self, window: Window, log: FetchLog) -> list[Item]:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        params: Mapping[str, str | int] | None = {
            "query": self.api_query(window),
            "per_page": self._config.per_page,
            "page": 1,
        }
        url: str | None = f"{self._base}/api/v2/items"
        items: list[Item] = []
        page = 0
        while url and page < self._config.max_pages:
            log.requests += 1
            response = self._http.get(url, params=params, headers=headers)
            if isinstance(response, NotModified):
                break
            page += 1
            data = read_json(response)
            if not isinstance(data, list):
                where = describe_url(response.url)
                raise HttpError(f"{where}: expected a JSON array of items", url=str(response.url))
            for raw in data:
                item = _api_item(raw) if isinstance(raw, Mapping) else None
                if item is not None and window.contains(item.published):
                    items.append(item)
            url, params = _next_link(response), None
            if url and self._quota_low(response, page, log):
                break
        if url and page >= self._config.max_pages:
            log.warn(f"qiita: API results cut after max_pages={self._config.max_pages} pages")
        return items

    def _quota_low(self, response: httpx.Response, page: int, log: FetchLog) -> bool:
        remaining = _to_int(response.headers.get("rate-remaining"))
        if remaining is None or remaining >= self._config.min_rate_remaining:
            return False
        reset = _to_int(response.headers.get("rate-reset"))
        when = f"{datetime.fromtimestamp(reset, JST):%Y-%m-%d %H:%M} JST" if reset else "an unknown time"
        log.warn(
            f"qiita: API quota low ({remaining} requests left), stopped after page {page}; "
            f"the quota resets at {when}"
        )
        return True


def _next_link(response: httpx.Response) -> str | None:
    target = response.links.get("next", {}).get("url")
    return str(response.url.join(target)) if target else None


def _to_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _item_id(url: str) -> str | None:
    segment = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return f"qiita:{segment}" if segment and "/items/" in url else None


def _feed_item(entry: Mapping[str, Any], tag: str) -> Item | None:
    """One Atom entry. The id comes from the link (the Atom `<id>` is an internal number)."""
    url = entry.get("link") or ""
    item_id = _item_id(url)
    published = feed_time(entry.get("published_parsed") or entry.get("updated_parsed"))
    if item_id is None or published is None:
        return None
    content = entry.get("content")
    html_text = content[0].get("value", "") if content else entry.get("summary", "")
    text = strip_html(html_text)  # decodes the HTML layer once; see text.py
    title = collapse_ws(entry.get("title", ""))
    author = entry.get("author")
    return Item(
        id=item_id,
        source=SourceName.QIITA,
        url=url,
        title=title,
        text=text,
        published=published,
        updated=feed_time(entry.get("updated_parsed")) or published,
        authors=(author,) if author else (),
        language=detect_language(f"{title} {text}"),
        tags=(tag,),
        mentioned_arxiv_ids=find_arxiv_ids(f"{title}\n{text}"),
    )


def _api_item(raw: Mapping[str, Any]) -> Item | None:
    """One API v2 item; None when a required field is missing or the item is private."""
    try:
        item_id, url, title = str(raw["id"]), str(raw["url"]), collapse_ws(str(raw["title"]))
        published = _aware(raw["created_at"])
        updated = _aware(raw.get("updated_at") or raw["created_at"])
    except (KeyError, ValueError):
        return None
    if raw.get("private") or not item_id:
        return None
    user = raw.get("user")
    user = user if isinstance(user, Mapping) else {}
    author = str(user.get("name") or user.get("id") or "")
    body = str(raw.get("body") or "")
    text = truncate(markdown_to_text(body), BODY_CHARS)
    tags = tuple(str(t["name"]) for t in raw.get("tags") or () if isinstance(t, Mapping) and t.get("name"))
    return Item(
        id=f"qiita:{item_id}",
        source=SourceName.QIITA,
        url=url,
        title=title,
        text=text,
        published=published,
        updated=updated,
        authors=(author,) if author else (),
        language=detect_language(f"{title} {text}"),
        tags=merge_tags((), tags),
        popularity=Popularity(
            likes=_to_int(raw.get("likes_count")),
            stocks=_to_int(raw.get("stocks_count")),
            comments=_to_int(raw.get("comments_count")),
        ),
        mentioned_arxiv_ids=find_arxiv_ids(f"{title}\n{body}"),
    )


def _with_tags(item: Item, tags: tuple[str, ...]) -> Item:
    return dataclasses.replace(item, tags=merge_tags(item.tags, tags))


def _prefer_api(api: Item, feed: Item | None) -> Item:
    """API data wins; tags and arXiv mentions are the union of both."""
    if feed is None:
        return api
    mentioned = tuple(dict.fromkeys(api.mentioned_arxiv_ids + feed.mentioned_arxiv_ids))
    return dataclasses.replace(api, tags=merge_tags(feed.tags, api.tags), mentioned_arxiv_ids=mentioned)


def _aware(value: Any) -> datetime:
    """An ISO 8601 timestamp with an offset, as UTC; ValueError when it has none."""
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    return moment.astimezone(UTC)
