"""Done-when: `digestbot run` through the local arXiv, Qiita/Zenn, LLM and Slack servers posts a
configured author's off-topic paper in 📌 注目 with 「著者: …」, though the judge would drop it."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from digestbot.cli import app
from digestbot.testing.arxiv_server import FakeArxivServer, synthetic_entries
from digestbot.testing.feed_builders import synthetic_zenn_articles
from digestbot.testing.feed_server import FeedServer
from digestbot.testing.openai_server import OpenAIServer, by_schema
from digestbot.testing.slack_server import SlackServer

ROOT = Path(__file__).resolve().parents[1]
START, END = datetime(2026, 11, 15, 15, tzinfo=UTC), datetime(2026, 11, 22, 15, tzinfo=UTC)
WATCHED = "Protein backbone geometry from cryo-EM density maps"


def _text(request: dict[str, Any]) -> str:
    return json.dumps(request["messages"], ensure_ascii=False)


def _classify(request: dict[str, Any]) -> dict[str, Any]:
    ids = re.findall(r'<item id=\\"([^"\\]+)\\">', _text(request))
    results = [
        {"item_id": i, "primary": "rag", "confidence": 0.8, "relevance": 4, "reason": "主題"} for i in ids
    ]
    return {"results": results}


def _summarize(request: dict[str, Any]) -> dict[str, Any]:
    ids = re.findall(r'<item id=\\"([^"\\]+)\\">', _text(request))
    blurb = "新しい手法を提案。"
    return {"results": [{"item_id": i, "blurb": blurb} for i in ids]} if ids else {"blurb": blurb}


def _judge(request: dict[str, Any]) -> dict[str, Any]:
    off_topic = WATCHED in _text(request)
    verdict = {"relevance": 1 if off_topic else 4, "significance": 4, "faithfulness": 5, "japanese": 5}
    ids = re.findall(r'<item id=\\"([^"\\]+)\\">', _text(request))
    if ids:
        return {"results": [{"item_id": i, **verdict, "rationale": "r", "feedback": ""} for i in ids]}
    return {**verdict, "rationale": "r", "feedback": ""}


def test_a_watched_author_is_posted_in_chuumoku_through_every_local_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Slack post opens with 注目 and 「著者: Lukasz Kaiser」; digest.json has the match and flag."""
    entries = synthetic_entries(12, seed=3, start=START, end=END)
    entries.append(
        {
            "id": "2611.09999v1",
            "title": WATCHED,
            "summary": "We fit protein backbones to cryo-EM maps.",
            "published": datetime(2026, 11, 18, 3, tzinfo=UTC),
            "authors": ["Łukasz Kaiser", "Mei Tanaka"],
            "categories": ["q-bio.BM"],
        }
    )
    responder = by_schema(
        {
            "ClassificationBatch": _classify,
            "Blurb": _summarize,
            "BlurbBatch": _summarize,
            "Verdict": _judge,
            "VerdictBatch": _judge,
        }
    )
    with (
        FakeArxivServer(entries) as arxiv,
        FeedServer() as feeds,
        OpenAIServer(responder) as llm,
        SlackServer() as slack,
    ):
        feeds.publish_zenn(synthetic_zenn_articles(3, seed=2, end=END), topics=["llm"])
        config = tmp_path / "config"
        shutil.copytree(ROOT / "config", config)
        text = (config / "digestbot.toml").read_text(encoding="utf-8")
        text = text.replace("delay_seconds = 3.0", "delay_seconds = 0.0")
        text = text.replace("requests_per_second = 2.0", "requests_per_second = 200.0")
        text = re.sub(r"topics = \[[^\]]*\]", 'topics = ["llm"]', text, count=1)
        text = text.replace("authors = []", 'authors = ["Lukasz Kaiser"]', 1)
        (config / "digestbot.toml").write_text(text, encoding="utf-8")
        env = {
            "DIGESTBOT_CONFIG_DIR": str(config),
            "DIGESTBOT_DATA_DIR": str(tmp_path / "data"),
            "DIGESTBOT_ARXIV_API_URL": arxiv.url,
            "DIGESTBOT_QIITA_BASE_URL": feeds.base_url,
            "DIGESTBOT_ZENN_BASE_URL": feeds.base_url,
            "DIGESTBOT_LLM_MODEL": "openai:gpt-4o-mini",
            "DIGESTBOT_LLM_BASE_URL": llm.base_url,
            "DIGESTBOT_LLM_API_KEY": "sk-test-local",
            "DIGESTBOT_SLACK_API_URL": slack.api_url,
            "SLACK_BOT_TOKEN": slack.token,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        out = tmp_path / "out"
        args = [
            "run",
            "--source",
            "arxiv,zenn",
            "--from",
            "2026-11-16",
            "--to",
            "2026-11-22",
            "--out",
            str(out),
        ]
        result = CliRunner().invoke(app, args)
        assert 0 == result.exit_code, result.output
        posted = json.dumps(slack.messages("C0DIGEST01")[0]["blocks"], ensure_ascii=False)
    data = json.loads((out / "digest.json").read_text(encoding="utf-8"))
    first = data["sections"][0]
    assert ("watch", ["arxiv:2611.09999"]) == (first["category"], [e["id"] for e in first["entries"]])
    assert [{"kind": "author", "value": "Lukasz Kaiser"}] == first["entries"][0]["watch"]
    assert first["entries"][0]["watch_flag"].startswith("watched: the judge would drop it (relevance 1")
    assert posted.index("📌 注目") < posted.index("🔎 著者: Lukasz Kaiser")
