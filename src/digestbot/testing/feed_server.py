"""A local fake of Qiita and Zenn for tests and benchmarks: feeds, JSON APIs, validators, faults.

Routes:
- any path given to `publish()` (tag/topic feeds, recorded files): ETag/Last-Modified, 304 on a match;
- `/api/v2/items` (Qiita API v2): `query` (`created:>=D created:<=D tag:A OR tag:B`), `page`,
  `per_page`, `Link` (first/prev/next/last), `Total-Count`, `Rate-Limit/Remaining/Reset`, 401 for a
  wrong bearer token with Qiita's `{"message","type"}` error;
- `/api/articles` (Zenn): `topicname` or `username`, `count`, `page` → `{"articles":[…],"next_page":N|null}`.
Faults are scripted per path with `fail(path, Fault(...))`. `requests` records everything received.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from digestbot.testing.feed_builders import ZENN_ONLY_KEYS, render_qiita_tag_feed, render_zenn_topic_feed

__all__ = ["Fault", "FeedServer", "RecordedRequest"]

ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/xml; charset=utf-8"
JSON = "application/json; charset=utf-8"
_JST = timezone(timedelta(hours=9))
_QIITA_TERM = re.compile(r"(created):(>=|<=|>|<)(\d{4}-\d{2}-\d{2})|tag:(\S+)")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # percent-decoded: "/tags/生成ai/feed"
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour for one request. `status=0` answers normally (after `delay`)."""

    status: int = 0
    retry_after: str | None = None  # seconds or an HTTP-date
    delay: float = 0.0  # seconds before answering (client timeouts)
    body: bytes | None = None  # replace the body
    content_type: str | None = None  # e.g. "text/html" for a login/error page
    cut: float | None = None  # serve only this fraction of the real body (malformed XML)
    drop: bool = False  # promise the whole body, send half, close (a broken connection)


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class FeedServer:
    """Plays Qiita and Zenn on 127.0.0.1. Use as a context manager; `base_url` is the server root."""

    def __init__(self, *, qiita_token: str | None = None, rate_limit: int = 1000) -> None:
        self.qiita_token = qiita_token
        self.qiita_items: list[dict[str, Any]] = []
        self.zenn_articles: list[dict[str, Any]] = []
        self.rate_limit = rate_limit
        self.rate_remaining = rate_limit
        self.rate_reset = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
        self.last_modified = "Mon, 24 Nov 2025 00:00:00 GMT"
        self.requests: list[RecordedRequest] = []
        self._resources: dict[str, tuple[bytes, str]] = {}
        self._faults: dict[str, deque[tuple[Fault, int | None]]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FeedServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- content -----------------------------------------------------------------------------------

    def publish(self, path: str, body: bytes, content_type: str) -> None:
        """Serve `body` at `path` (decoded, e.g. `/tags/生成ai/feed`) with validators."""
        self._resources[path] = (body, content_type)

    def publish_qiita(
        self, items: Iterable[Mapping[str, Any]], *, tags: Iterable[str] | None = None, feed_limit: int = 20
    ) -> None:
        """Items become the API's data and, per tag, a tag feed of the newest `feed_limit` items."""
        self.qiita_items = [dict(item) for item in items]
        names = (
            list(tags)
            if tags is not None
            else sorted({t["name"] for i in self.qiita_items for t in i["tags"]})
        )
        for tag in names:
            tagged = [
                i for i in self.qiita_items if tag.casefold() in {t["name"].casefold() for t in i["tags"]}
            ]
            tagged.sort(key=lambda i: str(i["created_at"]), reverse=True)
            self.publish(f"/tags/{tag.lower()}/feed", render_qiita_tag_feed(tag, tagged[:feed_limit]), ATOM)

    def publish_zenn(
        self,
        articles: Iterable[Mapping[str, Any]],
        *,
        topics: Iterable[str] | None = None,
        feed_limit: int = 20,
    ) -> None:
        """Articles (with `topics` lists) become the API's data and a feed per topic of the newest ones."""
        self.zenn_articles = [dict(a) for a in articles]
        names = (
            list(topics)
            if topics is not None
            else sorted({t for a in self.zenn_articles for t in a["topics"]})
        )
        for topic in names:
            listed = self._zenn_topic(topic)
            self.publish(
                f"/topics/{topic.lower()}/feed", render_zenn_topic_feed(topic, listed[:feed_limit]), RSS
            )

    def fail(self, path: str, fault: Fault, *, times: int | None = 1) -> None:
        """The next `times` requests to `path` (None: all of them) misbehave as `fault`. Queued in order."""
        with self._lock:
            self._faults[path].append((fault, times))

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    # --- answering ---------------------------------------------------------------------------------

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(path)
            if not queue:
                return None
            fault, times = queue[0]
            if times is not None:
                if times <= 1:
                    queue.popleft()
                else:
                    queue[0] = (fault, times - 1)
            return fault

    def _answer(self, request: RecordedRequest) -> _Reply:
        if request.path in self._resources:
            return self._resource(request)
        if request.path == "/api/v2/items":
            return self._qiita_items(request)
        if request.path == "/api/articles":
            return self._zenn_listing(request)
        return _Reply(404, b"<html><body>404 Not Found</body></html>", {"Content-Type": "text/html"})

    def _resource(self, request: RecordedRequest) -> _Reply:
        body, content_type = self._resources[request.path]
        etag = f'W/"{hashlib.sha256(body).hexdigest()[:16]}"'
        headers = {"Content-Type": content_type, "ETag": etag, "Last-Modified": self.last_modified}
        match = request.headers.get("if-none-match")
        if (match is not None and match == etag) or (
            match is None and request.headers.get("if-modified-since") == self.last_modified
        ):
            return _Reply(304, b"", headers)
        return _Reply(200, body, headers)

    def _qiita_items(self, request: RecordedRequest) -> _Reply:
        auth = request.headers.get("authorization")
        if auth is not None and auth != f"Bearer {self.qiita_token}":
            return _json(401, {"message": "Unauthorized", "type": "unauthorized"})
        try:
            page, per_page = int(request.param("page") or 1), int(request.param("per_page") or 20)
        except ValueError:
            page = per_page = 0
        if not (1 <= page <= 100 and 1 <= per_page <= 100):
            return _json(400, {"message": "Bad request", "type": "bad_request"})
        found = _qiita_search(self.qiita_items, request.param("query") or "")
        last = max(1, -(-len(found) // per_page))
        with self._lock:
            self.rate_remaining = max(0, self.rate_remaining - 1)
            remaining = self.rate_remaining
        reply = _json(200, found[(page - 1) * per_page : page * per_page])
        links = {
            "first": 1,
            "prev": page - 1 if page > 1 else None,
            "next": page + 1 if page < last else None,
        }
        links["last"] = last
        query = {k: v[0] for k, v in request.query.items()}
        reply.headers["Link"] = ", ".join(
            f'<{self.base_url}/api/v2/items?{urlencode({**query, "page": n}, quote_via=quote)}>; rel="{rel}"'
            for rel, n in links.items()
            if n is not None
        )
        reply.headers.update({
            "Total-Count": str(len(found)), "Rate-Limit": str(self.rate_limit),
            "Rate-Remaining": str(remaining), "Rate-Reset": str(self.rate_reset),
        })  # fmt: skip
        return reply

    def _zenn_topic(self, topic: str) -> list[dict[str, Any]]:
        listed = [
            a for a in self.zenn_articles if topic.casefold() in {t.casefold() for t in a.get("topics", ())}
        ]
        return sorted(listed, key=lambda a: str(a["published_at"]), reverse=True)

    def _zenn_listing(self, request: RecordedRequest) -> _Reply:
        topic, username = request.param("topicname"), request.param("username")
        if topic:
            listed = self._zenn_topic(topic)
        else:
            listed = [a for a in self.zenn_articles if not username or a["user"]["username"] == username]
            listed.sort(key=lambda a: str(a["published_at"]), reverse=True)
        count, page = int(request.param("count") or 48), int(request.param("page") or 1)
        chunk = listed[(page - 1) * count : page * count]
        articles = [{k: v for k, v in a.items() if k not in ZENN_ONLY_KEYS} for a in chunk]
        more = page * count < len(listed)
        return _json(200, {"articles": articles, "next_page": page + 1 if more else None})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                request = RecordedRequest(
                    "GET",
                    unquote(parts.path),
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                )
                with server._lock:
                    server.requests.append(request)
                fault = server._next_fault(request.path)
                if fault and fault.delay:
                    time.sleep(fault.delay)
                reply = server._answer(request) if not fault or not fault.status else _fault_reply(fault)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                    self._send(reply, fault)

            def _send(self, reply: _Reply, fault: Fault | None) -> None:
                body, headers = reply.body, dict(reply.headers)
                if fault and fault.body is not None:
                    body = fault.body
                if fault and fault.content_type:
                    headers["Content-Type"] = fault.content_type
                if fault and fault.cut is not None:
                    body = body[: int(len(body) * fault.cut)]
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                if fault and fault.drop:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: tests assert on `server.requests` instead."""

        return Handler


def _json(status: int, payload: Any) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode(), {"Content-Type": JSON})


def _fault_reply(fault: Fault) -> _Reply:
    headers = {"Content-Type": "text/html; charset=utf-8"}
    if fault.retry_after is not None:
        headers["Retry-After"] = fault.retry_after
    return _Reply(fault.status, f"<html><body>{fault.status}</body></html>".encode(), headers)


def _qiita_search(items: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """Newest first, filtered by `created:` bounds (JST dates) and any of the `tag:` terms."""
    bounds: list[tuple[str, str]] = []
    tags: set[str] = set()
    for match in _QIITA_TERM.finditer(query):
        if match.group(1):
            bounds.append((match.group(2), match.group(3)))
        else:
            tags.add(match.group(4).casefold())

    def keep(item: Mapping[str, Any]) -> bool:
        day = datetime.fromisoformat(str(item["created_at"])).astimezone(_JST).date().isoformat()
        for op, value in bounds:
            ok = {">=": day >= value, "<=": day <= value, ">": day > value, "<": day < value}[op]
            if not ok:
                return False
        return not tags or bool(tags & {t["name"].casefold() for t in item.get("tags", ())})

    found = [item for item in items if keep(item)]
    return sorted(found, key=lambda i: str(i["created_at"]), reverse=True)
