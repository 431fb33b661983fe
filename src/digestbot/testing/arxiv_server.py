"""A local fake of the arXiv query API (`/api/query`), for tests and benchmarks.

It renders entries as a 2026-format Atom feed, pages with `start`/`max_results`, sorts by
`sortBy`/`sortOrder`, filters on the `submittedDate:[A TO B]` clause (by `published`, minutes,
inclusive), and can be scripted with faults (status, headers, raw body, delay) one request at a time.
Other query clauses (`cat:`, `abs:`, `id_list`) are recorded but not applied.
"""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NotRequired, Required, TypedDict
from urllib.parse import parse_qsl, urlsplit

__all__ = ["ArxivEntry", "FakeArxivServer", "Reply", "render_entry", "render_feed", "synthetic_entries"]


class ArxivEntry(TypedDict, total=False):
    """One paper as the fake serves it. Dates are ISO 8601 (`2026-01-05T14:00:00Z`) or aware datetimes."""

    id: Required[str]  # short id with version: "2601.00042v2" or "astro-ph/0601001v1"
    title: Required[str]
    summary: Required[str]
    published: Required[str | datetime]
    updated: NotRequired[str | datetime]  # defaults to published
    authors: NotRequired[list[str]]
    categories: NotRequired[list[str]]
    primary: NotRequired[str]  # defaults to the first category
    doi: NotRequired[str]
    comment: NotRequired[str]
    journal_ref: NotRequired[str]


@dataclass(frozen=True)
class Reply:
    """A scripted answer to one request. `body=None` renders the feed (status 200) or a short text."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0  # seconds to wait before answering (for client timeouts)


_ATOM = "http://arxiv.org/schemas/atom"
_DATE_CLAUSE = re.compile(r"submittedDate:\[(\d{12}) TO (\d{12})\]")


def _iso(value: str | datetime) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _minute_key(iso: str) -> str:
    """`2026-01-05T14:03:59Z` -> `202601051403` (what submittedDate ranges compare)."""
    if iso.endswith("Z"):  # the common case, sliced for speed
        return iso[0:4] + iso[5:7] + iso[8:10] + iso[11:13] + iso[14:16]
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y%m%d%H%M")


def render_entry(entry: ArxivEntry) -> str:
    """One `<entry>` element in the 2026 layout (string building: the benchmark renders 10,000)."""
    short = entry["id"]
    published = _iso(entry["published"])
    categories = entry.get("categories") or ["cs.CL"]
    parts = [
        f"  <entry>\n    <id>http://arxiv.org/abs/{short}</id>\n",
        f"    <title>{escape(entry['title'], quote=False)}</title>\n",
        f"    <updated>{_iso(entry.get('updated', published))}</updated>\n",
        f'    <link href="https://arxiv.org/abs/{short}" rel="alternate" type="text/html"/>\n',
        f'    <link href="https://arxiv.org/pdf/{short}" rel="related" type="application/pdf" '
        'title="pdf"/>\n',
        f"    <summary>{escape(entry['summary'], quote=False)}</summary>\n",
        *(f'    <category term="{c}" scheme="{_ATOM}"/>\n' for c in categories),
        f"    <published>{published}</published>\n",
    ]
    if "comment" in entry:
        parts.append(f"    <arxiv:comment>{escape(entry['comment'], quote=False)}</arxiv:comment>\n")
    parts.append(f'    <arxiv:primary_category term="{entry.get("primary", categories[0])}"/>\n')
    if "journal_ref" in entry:
        parts.append(
            f"    <arxiv:journal_ref>{escape(entry['journal_ref'], quote=False)}</arxiv:journal_ref>\n"
        )
    parts.extend(
        f"    <author>\n      <name>{escape(a, quote=False)}</name>\n    </author>\n"
        for a in entry.get("authors", [])
    )
    if "doi" in entry:
        doi = escape(entry["doi"])
        parts.append(f"    <arxiv:doi>{doi}</arxiv:doi>\n")
        parts.append(f'    <link rel="related" href="https://doi.org/{doi}" title="doi"/>\n')
    parts.append("  </entry>\n")
    return "".join(parts)


def render_feed(entries: Iterable[str], *, total: int, start: int, per_page: int, query: str = "") -> bytes:
    """A whole feed around already-rendered entries, with the opensearch paging header."""
    q = escape(query)
    head = (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
        f'xmlns:arxiv="{_ATOM}" xmlns="http://www.w3.org/2005/Atom">\n'
        "  <id>https://arxiv.org/api/fake</id>\n"
        f"  <title>arXiv Query: search_query={q}&amp;id_list=&amp;start={start}&amp;"
        f"max_results={per_page}</title>\n"
        "  <updated>2026-04-12T22:09:27Z</updated>\n"
        f'  <link href="https://arxiv.org/api/query?search_query={q}&amp;start={start}&amp;'
        f'max_results={per_page}&amp;id_list=" type="application/atom+xml"/>\n'
        f"  <opensearch:itemsPerPage>{per_page}</opensearch:itemsPerPage>\n"
        f"  <opensearch:totalResults>{total}</opensearch:totalResults>\n"
        f"  <opensearch:startIndex>{start}</opensearch:startIndex>\n"
    )
    return (head + "".join(entries) + "</feed>\n").encode()


class FakeArxivServer:
    """`with FakeArxivServer(entries) as server:` then point the client at `server.url`.

    `requests` holds the query parameters of every request received, in order.
    `script(...)` queues replies (`Reply` or `(status, headers)`) used before normal serving resumes.
    `replay` (bytes) answers every unscripted request with those exact bytes.
    """

    def __init__(self, entries: Iterable[ArxivEntry] = (), *, replay: bytes | None = None) -> None:
        self.entries = list(entries)
        self.replay = replay
        self.requests: list[dict[str, str]] = []
        self._rendered = [render_entry(e) for e in self.entries]
        self._published = [_minute_key(_iso(e["published"])) for e in self.entries]
        self._updated = [_minute_key(_iso(e.get("updated", e["published"]))) for e in self.entries]
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None  # bound by start(), so answer() needs no socket
        self._thread: threading.Thread | None = None

    @classmethod
    def replaying(cls, path: str | Path) -> FakeArxivServer:
        """Serve a recorded response file as-is (status 200) to every request."""
        return cls(replay=Path(path).read_bytes())

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeArxivServer is not started: use it as a context manager or call start()")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/api/query"

    def script(self, *replies: Reply | tuple[int, dict[str, str]]) -> None:
        with self._lock:
            self._script.extend(r if isinstance(r, Reply) else Reply(r[0], dict(r[1])) for r in replies)

    def start(self) -> FakeArxivServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="fake-arxiv", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes handlers sleeping on a scripted delay
        if self._httpd is not None and self._thread is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> FakeArxivServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- serving -------------------------------------------------------------------------------

    def answer(self, params: dict[str, str]) -> Reply:
        """What the server sends for one request (also usable without HTTP, e.g. in benchmarks)."""
        with self._lock:
            self.requests.append(params)
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            if scripted.body is not None or scripted.status != 200:
                return scripted
            return Reply(200, scripted.headers, self._feed(params), scripted.delay)
        if self.replay is not None:
            return Reply(200, {}, self.replay)
        return Reply(200, {}, self._feed(params))

    def _feed(self, params: dict[str, str]) -> bytes:
        start = int(params.get("start", "0"))
        per_page = int(params.get("max_results", "10"))
        query = params.get("search_query", "")
        order = self._matching(
            query, params.get("sortBy", "relevance"), params.get("sortOrder", "descending")
        )
        page = (self._rendered[i] for i in order[start : start + per_page])
        return render_feed(page, total=len(order), start=start, per_page=per_page, query=query)

    def _matching(self, query: str, sort_by: str, sort_order: str) -> list[int]:
        clause = _DATE_CLAUSE.search(query)
        indexes: Iterator[int] | range = range(len(self.entries))
        if clause:
            low, high = clause.groups()
            indexes = (i for i in indexes if low <= self._published[i] <= high)
        chosen = list(indexes)
        keys = {"submittedDate": self._published, "lastUpdatedDate": self._updated}.get(sort_by)
        if keys is not None:
            chosen.sort(key=keys.__getitem__, reverse=sort_order == "descending")
        return chosen

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0 (the default): one request per connection, so no handler lingers on keep-alive.

            def do_GET(self) -> None:
                split = urlsplit(self.path)
                if split.path != "/api/query":
                    self._send(Reply(404, {}, b"not found\n"))
                    return
                self._send(server.answer(dict(parse_qsl(split.query, keep_blank_values=True))))

            def _send(self, reply: Reply) -> None:
                if reply.delay and server._closing.wait(reply.delay):
                    return
                body = reply.body
                if body is None:
                    body = f"{reply.status} {HTTPStatus(reply.status).phrase}\n".encode()
                kind = (
                    "application/atom+xml; charset=utf-8" if body.lstrip().startswith(b"<") else "text/plain"
                )
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: tests assert on `server.requests` instead."""

        return Handler


# --- synthetic entries ----------------------------------------------------------------------------

# fmt: off
_LLM_TOPICS = (
    "Large Language Models", "LLM Agents", "Retrieval-Augmented Generation", "Instruction Tuning",
    "Chain-of-Thought Reasoning", "In-Context Learning", "Preference Optimization", "Multilingual LLMs",
)
_OTHER_TOPICS = (
    "Graph Neural Networks", "Protein Structure Prediction", "Traffic Forecasting", "Federated Learning",
    "Medical Image Segmentation", "Robot Manipulation", "Time-Series Anomaly Detection", "Sparse Coding",
)
_METHODS = (
    "Scaling", "Revisiting", "Towards Robust", "Efficient", "A Benchmark for", "On the Limits of", "Sparse",
)
_AUX = (
    "Contrastive Decoding", "Low-Rank Adaptation", "Synthetic Data", "Curriculum Learning", "Mixtures",
)
_NAMES = (
    "Aurora Ramírez", "Jürgen Schmidt", "Yuki Tanaka", "Priya Natarajan", "Chen Wei", "Zoë Dubois",
    "Oluwaseun Adeyemi", "María José García", "Haruto Sato", "Anna Kowalska", "Ahmed Hassan", "Min-jun Kim",
)
# fmt: on


def synthetic_entries(
    n: int,
    *,
    seed: int = 0,
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC),
    end: datetime = datetime(2026, 1, 12, tzinfo=UTC),
    llm_share: float = 0.6,
    revised_share: float = 0.2,
) -> list[ArxivEntry]:
    """`n` deterministic, realistic-looking entries published in [start, end), ids in time order."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    moments = sorted(start + timedelta(seconds=int(rng.random() * span)) for _ in range(n))
    entries: list[ArxivEntry] = []
    for serial, published in enumerate(moments, start=1):
        llm = rng.random() < llm_share
        topic = rng.choice(_LLM_TOPICS if llm else _OTHER_TOPICS)
        acronym = "".join(rng.choice("ABCDEFGHKLMPRSTVXZ") for _ in range(rng.randint(3, 5)))
        title = f"{rng.choice(_METHODS)} {topic}" + (f" via {rng.choice(_AUX)}" if rng.random() < 0.4 else "")
        if rng.random() < 0.3:
            title = f"{acronym}: {title}"
        gain = rng.randint(2, 35)
        summary = (
            f"{topic} have become central to modern machine learning, yet their behaviour under "
            f"distribution shift remains poorly understood. We propose {acronym}, a simple method that "
            f"combines {rng.choice(_AUX).lower()} with careful evaluation. Experiments on "
            f"{rng.randint(2, 12)} benchmarks show a {gain}% relative improvement over strong baselines "
            f"at a fraction of the cost (α = 0.{gain}). Code and data are released."
        )
        primary = rng.choice(("cs.CL", "cs.AI", "cs.LG") if llm else ("cs.CV", "cs.LG", "stat.ML", "cs.RO"))
        cross = [c for c in ("cs.CL", "cs.AI", "cs.LG", "stat.ML") if c != primary and rng.random() < 0.25]
        version = 2 if rng.random() < revised_share else 1
        updated = (
            published + timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 600))
            if version > 1
            else published
        )
        entry: ArxivEntry = {
            "id": f"{published:%y%m}.{serial:05d}v{version}",
            "title": title,
            "summary": summary,
            "published": published,
            "updated": updated,
            "authors": rng.sample(_NAMES, rng.randint(1, 6)),
            "categories": [primary, *cross],
            "primary": primary,
        }
        if rng.random() < 0.6:
            entry["comment"] = f"{rng.randint(8, 40)} pages, {rng.randint(1, 12)} figures"
        if rng.random() < 0.2:
            entry["doi"] = f"10.{rng.randint(1000, 9999)}/synthetic.{serial}"
        entries.append(entry)
    return entries
