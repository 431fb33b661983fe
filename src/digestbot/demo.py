"""`digestbot demo`: the whole pipeline, offline, on real sample data served from 127.0.0.1.

The bundled arXiv papers and a recorded Zenn feed (see `data/demo/SOURCES.md`) are served by the
same local fakes the tests use, and the real clients (arxiv, httpx + feedparser) fetch them.
No network and no keys are needed; the agents run in offline mode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, timedelta
from email.utils import format_datetime
from importlib import resources
from pathlib import Path

from digestbot.domain import Window
from digestbot.settings import Settings, SourcesConfig
from digestbot.testing.arxiv_server import ArxivEntry, FakeArxivServer
from digestbot.testing.feed_server import RSS, FeedServer

DEMO_WINDOW = Window.between(date(2024, 12, 16), date(2024, 12, 22), "Asia/Tokyo")
DEMO_ZENN_TOPIC = "swift"


def _data(name: str) -> bytes:
    return resources.files("digestbot").joinpath("data", "demo", name).read_bytes()


def arxiv_entries() -> list[ArxivEntry]:
    lines = _data("arxiv_papers.jsonl").decode("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def zenn_feed() -> bytes:
    """The recorded feed with its <pubDate>s moved into the demo week (nothing else changed)."""
    start = DEMO_WINDOW.start + timedelta(hours=3)
    counter = iter(range(1000))

    def redate(_: re.Match[bytes]) -> bytes:
        moment = start + timedelta(hours=6 * next(counter))
        return b"<pubDate>" + format_datetime(moment.astimezone(UTC), usegmt=True).encode() + b"</pubDate>"

    return re.sub(rb"<pubDate>[^<]*</pubDate>", redate, _data("zenn-topic-feed_swift.xml"))


def demo_settings(base: Settings, *, arxiv_url: str, feeds_url: str, data_dir: Path) -> Settings:
    """The user's categories and pipeline knobs; endpoints, store and model pointed at the demo."""
    app = base.app
    sources = SourcesConfig(
        arxiv=app.sources.arxiv.model_copy(
            update={"enabled": True, "api_url": arxiv_url, "delay_seconds": 0.0}
        ),
        qiita=app.sources.qiita.model_copy(update={"enabled": False}),
        zenn=app.sources.zenn.model_copy(
            update={
                "enabled": True,
                "base_url": feeds_url,
                "topics": (DEMO_ZENN_TOPIC,),
                "enrich_with_api": False,
            }
        ),
    )
    updated = app.model_copy(
        update={
            "general": app.general.model_copy(update={"data_dir": str(data_dir), "store_url": ""}),
            "sources": sources,
            "llm": app.llm.model_copy(update={"model": ""}),
        }
    )
    return base.model_copy(update={"app": updated})


@contextmanager
def demo_servers() -> Iterator[tuple[str, str]]:
    """(arXiv API url, Qiita/Zenn base url) of local servers holding the sample data."""
    with FakeArxivServer(arxiv_entries()) as arxiv_server, FeedServer() as feeds:
        feeds.publish(f"/topics/{DEMO_ZENN_TOPIC}/feed", zenn_feed(), RSS)
        yield arxiv_server.url, feeds.base_url
