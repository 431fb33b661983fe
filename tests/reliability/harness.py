"""The reliability harness: every outside system as a local fake, the real clients pointed at them.

`stack` starts a fake arXiv API, a Qiita/Zenn feed server, an OpenAI-compatible LLM server and a Slack
Web API, writes a config folder aimed at them (no real host is ever contacted) and points the
environment at it. `stack.run()` calls `run_digest` exactly as the CLI does (real `ArxivSource`,
`HttpFetcher`, `ChatOpenAI`, slack-sdk `WebClient`), with only the LLM retry sleep injected;
`stack.cli(...)` runs the `digestbot` command line in-process. Assertions read what the fakes
RECEIVED (`stack.slack_payloads()`, `stack.llm.completions`) and what the store holds.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.support.agents import per_item_agents
from typer.testing import CliRunner, Result

from digestbot.agents.llm_agents import LlmAgents
from digestbot.cli import app
from digestbot.domain import Item, SourceName, Window
from digestbot.runner import RunOutcome, run_digest
from digestbot.settings import ENV_OVERRIDES, Secrets, Settings, load_settings
from digestbot.store import ItemStore
from digestbot.testing.arxiv_server import ArxivEntry, FakeArxivServer
from digestbot.testing.feed_builders import (
    render_qiita_tag_feed,
    render_zenn_topic_feed,
    synthetic_qiita_items,
    synthetic_zenn_articles,
)
from digestbot.testing.feed_server import ATOM, RSS, FeedServer
from digestbot.testing.openai_server import OpenAIServer, schema_name
from digestbot.testing.slack_server import SlackServer

ROOT = Path(__file__).resolve().parents[2]
WINDOW = Window.between(date(2026, 1, 5), date(2026, 1, 11), "Asia/Tokyo")
DAYS = ["--from", "2026-01-05", "--to", "2026-01-11"]
DATA_END = datetime(2026, 1, 10, tzinfo=UTC)
CHANNEL_ID = "C0DIGEST01"
QIITA_FEED, ZENN_FEED = "/tags/llm/feed", "/topics/llm/feed"
GOOD_BLURB = "検索拡張生成の新手法を提案し、検索精度が向上した。"  # no number: the items here state none
VERDICT = {"relevance": 4, "significance": 4, "faithfulness": 5, "japanese": 5, "rationale": "良い"}
SECRET_ENV = [*(name.upper() for name in Secrets.model_fields), *ENV_OVERRIDES, "DIGESTBOT_CONFIG_DIR"]


def arxiv_entry(n: int, title: str, summary: str = "", **extra: Any) -> ArxivEntry:
    """A paper published inside WINDOW (n-th hour of 2026-01-06 UTC)."""
    entry: ArxivEntry = {
        "id": f"2601.{n:05d}v1",
        "title": title,
        "summary": summary or f"We study LLM retrieval-augmented generation. Variant {n} improves recall.",
        "published": datetime(2026, 1, 6, n % 24, tzinfo=UTC),
        "categories": ["cs.CL"],
        "authors": ["Yuki Tanaka"],
    }
    entry.update(extra)  # type: ignore[typeddict-item]
    return entry


def qiita_items(titles: list[str], bodies: list[str] | None = None) -> list[dict[str, Any]]:
    """Qiita API-shaped items tagged LLM, with the given titles (and bodies, for the feed excerpt)."""
    items = synthetic_qiita_items(len(titles), end=DATA_END, days=3, tags=("LLM",))
    for n, item in enumerate(items):
        item["title"] = titles[n]
        item["url"] = f"https://qiita.example/someone/items/{item['id']}"
        if bodies is not None:
            item["body"] = bodies[n]
    return items


def zenn_articles(titles: list[str], descriptions: list[str] | None = None) -> list[dict[str, Any]]:
    articles = synthetic_zenn_articles(len(titles), end=DATA_END, days=3, topics=("llm",))
    for n, article in enumerate(articles):
        article["title"] = titles[n]
        if descriptions is not None:
            article["description"] = descriptions[n]
    return articles


ARXIV_TITLES = ["LLM retrieval with rerankers", "Long-context LLM memory", "RAG for LLM agents"]
QIITA_TITLES = ["LLMでRAGを作ってみた", "LLMの評価を自動化する"]
ZENN_TITLES = ["LLMアプリの監視入門", "LLMで社内検索を改善した話"]


# --- the fake model ------------------------------------------------------------------------------------


class Hang:
    """A reply that keeps the request open for `seconds` (longer than the client's timeout)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.released = threading.Event()


class Boom(Exception):
    """Raised by a reply: the fake server answers HTTP 500."""


Reply = dict[str, Any] | str | Hang | type[Boom] | Callable[[dict[str, Any]], Any]


def user_text(request: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in request.get("messages", []))


def classify_all(request: dict[str, Any], primary: str = "rag", relevance: int = 4) -> dict[str, Any]:
    """Every item in the batch -> `primary`, relevance 4 (the prompt shows item ids as `<item id="N">`)."""
    ids = re.findall(r'<item id="(\d+)">', user_text(request))  # the instructions show id="..."
    results = [
        {"item_id": i, "primary": primary, "secondary": [], "confidence": 0.9, "relevance": relevance}
        for i in ids
    ]
    return {"results": [r | {"reason": "RAGが主題"} for r in results]}


@dataclass
class FakeModel:
    """A well-behaved model by default; `on(schema, marker, reply)` makes it misbehave on one item.

    `marker` is matched against the prompt text (item titles appear there), so a fault can target one
    item's summary or verdict while the others are answered normally.
    """

    defaults: dict[str, Reply] = field(
        default_factory=lambda: (
            {"ClassificationBatch": classify_all, "Blurb": {"blurb": GOOD_BLURB}} | {"Verdict": VERDICT}
        )
    )
    rules: list[tuple[str, str, Reply]] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (schema, prompt) as each request arrives

    def on(self, schema: str, marker: str, reply: Reply) -> None:
        self.rules.insert(0, (schema, marker, reply))

    def __call__(self, request: dict[str, Any]) -> Any:
        schema = schema_name(request) or "text"
        text = user_text(request)
        self.seen.append((schema, text))
        reply = next(
            (r for s, m, r in self.rules if s == schema and m in text), self.defaults.get(schema, "")
        )
        if isinstance(reply, Hang):
            reply.released.wait(reply.seconds)
            return (
                self.defaults[schema]
                if not callable(self.defaults[schema])
                else self.defaults[schema](request)
            )
        if reply is Boom:
            raise Boom("scripted provider failure")
        if callable(reply):
            return reply(request)
        return reply


# --- the stack -----------------------------------------------------------------------------------------


def write_config(folder: Path, stack: Stack, **overrides: str) -> Path:
    """A config folder whose every endpoint is a local fake; fast retries, no pacing."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config" / "categories.toml", folder / "categories.toml")
    values = {
        "arxiv_url": stack.arxiv.url,
        "feeds_url": stack.feeds.base_url,
        "qiita_url": stack.feeds.base_url,
        "zenn_url": stack.feeds.base_url,
        "llm_url": stack.llm.base_url,
        "llm_model": "openai:gpt-4o-mini",
        "slack_url": stack.slack.api_url,
        "llm_timeout": "5",
        "http_timeout": "5",
        "channel": "#llm-digest",
        "extra": "",
    } | overrides
    (folder / "digestbot.toml").write_text(
        f"""
[general]
timezone = "Asia/Tokyo"
data_dir = "{stack.data_dir}"
agents_dir = "{per_item_agents()}"

[sources.arxiv]
api_url = "{values["arxiv_url"]}"
categories = ["cs.CL"]
page_size = 100
delay_seconds = 0
timeout_seconds = {values["http_timeout"]}
max_retries = 1

[sources.qiita]
base_url = "{values["qiita_url"]}"
tags = ["LLM"]

[sources.zenn]
base_url = "{values["zenn_url"]}"
topics = ["llm"]
enrich_with_api = false

[http]
timeout_seconds = {values["http_timeout"]}
max_retries = 1
backoff_seconds = 0

[llm]
model = "{values["llm_model"]}"
base_url = "{values["llm_url"]}"
max_concurrency = 4
requests_per_second = 1000
timeout_seconds = {values["llm_timeout"]}
max_retries = 0

[slack]
api_url = "{values["slack_url"]}"
channel = "{values["channel"]}"
min_seconds_between_posts = 0
{values["extra"]}
""",
        encoding="utf-8",
    )
    return folder


async def no_sleep(_seconds: float) -> None:
    """The LLM retry backoff, injected: retries happen at once."""


@dataclass
class Stack:
    arxiv: FakeArxivServer
    feeds: FeedServer
    llm: OpenAIServer
    model: FakeModel
    slack: SlackServer
    root: Path
    env: pytest.MonkeyPatch
    qiita: list[dict[str, Any]] = field(default_factory=list)
    zenn: list[dict[str, Any]] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'digestbot.sqlite'}"

    def configure(self, **overrides: str) -> None:
        write_config(self.config_dir, self, **overrides)

    def settings(self) -> Settings:
        return load_settings()

    def run(self, *, dry_run: bool = False, fetch: bool = True, **options: Any) -> RunOutcome:
        """`run_digest` as the CLI calls it, with the LLM's retry backoff injected (no real waits)."""
        settings = self.settings()
        agents = LlmAgents(settings, sleep=no_sleep)
        return run_digest(settings, WINDOW, fetch=fetch, dry_run=dry_run, agents=agents, **options)

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(app, list(args))

    def publish(self) -> None:
        """Serve the standard items: 3 arXiv papers, 2 Qiita and 2 Zenn articles, all in WINDOW."""
        self.arxiv.entries[:] = []
        self.set_arxiv([arxiv_entry(n, title) for n, title in enumerate(ARXIV_TITLES, 1)])
        self.qiita, self.zenn = qiita_items(QIITA_TITLES), zenn_articles(ZENN_TITLES)
        self.feeds.publish_qiita(self.qiita, tags=["LLM"])
        self.feeds.publish_zenn(self.zenn, topics=["llm"])

    def refresh_feeds(self) -> None:
        """Same articles, new bytes: the next conditional GET gets a 200 (so a fault can spoil the body)."""
        note = b"<!-- refreshed -->\n"
        self.feeds.publish(QIITA_FEED, render_qiita_tag_feed("LLM", self.qiita) + note, ATOM)
        self.feeds.publish(ZENN_FEED, render_zenn_topic_feed("llm", self.zenn) + note, RSS)

    def set_arxiv(self, entries: list[ArxivEntry]) -> None:
        fresh = FakeArxivServer(entries)
        self.arxiv.entries = fresh.entries
        self.arxiv._rendered = fresh._rendered
        self.arxiv._published = fresh._published
        self.arxiv._updated = fresh._updated

    # --- what crossed the wire ------------------------------------------------------------------

    def posts(self) -> list[Any]:
        return [r for r in self.slack.requests if r.method in ("chat.postMessage", "chat.update")]

    def slack_payloads(self) -> list[str]:
        """Every text and block Slack received in posts and updates, as JSON strings."""
        return [
            json.dumps({"text": r.body.get("text"), "blocks": r.body.get("blocks")}, ensure_ascii=False)
            for r in self.posts()
        ]

    def digest_messages(self) -> list[dict[str, Any]]:
        """The digest's messages in the channel (marked with its metadata; not an attached chart)."""
        marked = [m for m in self.slack.messages(CHANNEL_ID) if "metadata" in m]
        return [m for m in marked if m["metadata"].get("event_type") == "digestbot_digest"]

    def top_level(self) -> list[dict[str, Any]]:
        """Digest messages posted to the channel itself (one per digest; the rest are thread replies)."""
        return [m for m in self.digest_messages() if m.get("thread_ts") in (None, m["ts"])]

    def stored(self) -> list[Item]:
        """Items in WINDOW in the store the config points at (DATABASE_URL wins, as in the CLI)."""
        with ItemStore(self.settings().store_url) as store:
            return store.items_in_window(WINDOW)

    def stored_ids(self, source: SourceName | None = None) -> set[str]:
        return {i.id for i in self.stored() if source is None or i.source is source}

    def latest(self) -> dict[str, Any]:
        return json.loads((self.data_dir / "digests" / "latest.json").read_text(encoding="utf-8"))


def publish_recent(stack: Stack) -> None:
    """The standard items, published yesterday: inside the weekly window whenever the test runs."""
    yesterday = datetime.now(UTC) - timedelta(days=1)
    stack.set_arxiv(
        [arxiv_entry(n, t, published=yesterday - timedelta(minutes=n)) for n, t in enumerate(ARXIV_TITLES, 1)]
    )
    stack.qiita = [item | {"created_at": yesterday.isoformat()} for item in qiita_items(QIITA_TITLES)]
    stack.zenn = [article | {"published_at": yesterday.isoformat()} for article in zenn_articles(ZENN_TITLES)]
    stack.feeds.publish_qiita(stack.qiita, tags=["LLM"])
    stack.feeds.publish_zenn(stack.zenn, topics=["llm"])


def wait_until(condition: Callable[[], bool], *, timeout: float = 20.0, what: str = "condition") -> None:
    """Poll `condition` (bounded); fail the test naming `what` if it never holds."""
    done = threading.Event()
    deadline = timeout / 0.02
    for _ in range(int(deadline)):
        if condition():
            return
        done.wait(0.02)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


# --- what Slack must never receive ------------------------------------------------------------------

BIDI_AND_ZERO_WIDTH = "\u202e\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u200b\u2060\ufeff"


def mrkdwn_texts(blocks: Any) -> Iterator[str]:
    """Every mrkdwn/plain text inside blocks (and nested elements)."""
    if isinstance(blocks, dict):
        if blocks.get("type") in ("mrkdwn", "plain_text") and isinstance(blocks.get("text"), str):
            yield blocks["text"]
        for value in blocks.values():
            yield from mrkdwn_texts(value)
    elif isinstance(blocks, list):
        for value in blocks:
            yield from mrkdwn_texts(value)


# the hosts of the items the tests serve (and Slack's own permalinks); any other link is injected
OUR_HOSTS = (
    r"(?:arxiv\.org|arxiv\.example|qiita\.com|qiita\.example|zenn\.dev|zenn\.example|[a-z0-9-]+\.slack\.com)"
)
OUR_LINK = re.compile(rf"<(https://{OUR_HOSTS}/[^|<> ]*)\|[^<>]*>")
BROADCAST = re.compile(r"@(?:channel|here|everyone)", re.IGNORECASE)  # glued or not (`@here全員`)


def unsafe_parts(text: str) -> list[str]:
    """Anything Slack would treat as markup that is not one of our own item links."""
    rest = OUR_LINK.sub("", text)
    found = re.findall(r"<[^>]*>?", rest)
    found += BROADCAST.findall(rest)
    found += [ch for ch in rest if ch in BIDI_AND_ZERO_WIDTH]
    return found
