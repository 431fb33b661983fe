"""Done-when for article <-> paper links, end to end through the local arXiv, Qiita, Zenn, LLM and
Slack servers: week 1 posts paper A; in week 2 a Zenn article names this week's paper B by id and a
Qiita article names paper A by URL. The posted digest shows B once with its 解説記事 (the Zenn article
takes no slot of its own) and the Qiita article with its 元論文 and week 1's digest; digest.json
carries both links."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from digestbot.cli import app
from digestbot.testing.arxiv_server import ArxivEntry, FakeArxivServer
from digestbot.testing.feed_builders import synthetic_qiita_items, synthetic_zenn_articles
from digestbot.testing.feed_server import FeedServer
from digestbot.testing.openai_server import OpenAIServer, by_schema
from digestbot.testing.slack_server import SlackServer

ROOT = Path(__file__).resolve().parents[1]
PAPER_A = ("2611.00011", "Long-context retrieval-augmented generation with adaptive chunk reranking")
PAPER_B = ("2611.00222", "Speculative decoding for faster large language model inference on edge devices")
PAPER_C = ("2611.00333", "Chain-of-thought length control for small language model reasoning")
WATCHED = "José Ñúñez-Álvarez"  # configured as "Jose Nunez-Alvarez": accents fold
END = datetime(2026, 11, 22, 15, tzinfo=UTC)
HOSTILE = "<!channel> @here 解説 & <b>まとめ</b>"


def _ids(request: dict[str, Any]) -> list[str]:
    return re.findall(r'<item id="([^"]+)">', str(request["messages"][-1]["content"]))


def _classify(request: dict[str, Any]) -> dict[str, Any]:
    ids = _ids(request)
    result = {"primary": "rag", "secondary": [], "confidence": 0.8, "relevance": 4, "reason": "主題"}
    return {"results": [{"item_id": i, **result} for i in ids]}


def _verdict(_: dict[str, Any]) -> dict[str, Any]:
    scores = {"relevance": 4, "significance": 4, "faithfulness": 5, "japanese": 5}
    return {**scores, "rationale": "妥当", "feedback": ""}


def _entry(paper: tuple[str, str], published: str, authors: tuple[str, ...] = ("Ann Lee",)) -> ArxivEntry:
    summary = "We propose a method for LLM retrieval-augmented generation; recall improves by 12%."
    entry: ArxivEntry = {"id": f"{paper[0]}v1", "title": paper[1], "summary": summary, "published": published}
    return entry | {"authors": list(authors)}


def _publish_articles(feeds: FeedServer) -> None:
    [qiita] = synthetic_qiita_items(1, seed=11, end=END, days=3, tags=["llm"])
    qiita |= {
        "title": f"RAGの論文を読んでみた {HOSTILE}",
        "body": f"論文 https://arxiv.org/abs/{PAPER_A[0]}v2 をLLMで再現し、RAGの再現率を確かめました。",
        "likes_count": 30,
    }
    qiita.pop("summary", None)
    [zenn] = synthetic_zenn_articles(1, seed=12, end=END, days=3, topics=["llm"])
    zenn |= {
        "title": f"【論文解説】LLM推論を速くする投機的デコーディング {HOSTILE}",
        "description": f"arXiv:{PAPER_B[0]} をLLM推論の観点で解説します。RAGにも使えます。",
        "liked_count": 42,
    }
    feeds.publish_qiita([qiita], tags=["llm"])
    feeds.publish_zenn([zenn], topics=["llm"])


@pytest.fixture
def servers() -> Iterator[tuple[FakeArxivServer, FeedServer, OpenAIServer, SlackServer]]:
    entries = [
        _entry(PAPER_A, "2026-11-10T10:00:00Z"),
        _entry(PAPER_B, "2026-11-17T10:00:00Z"),
        _entry(PAPER_C, "2026-11-18T10:00:00Z", authors=("Mei Tanaka", WATCHED)),
    ]
    blurb = {"blurb": "検索拡張生成の新手法を提案。"}
    responder = by_schema(
        {
            "ClassificationBatch": _classify,
            "Blurb": lambda _: blurb,
            "BlurbBatch": lambda r: {"results": [{"item_id": i, **blurb} for i in _ids(r)]},
            "Verdict": _verdict,
            "VerdictBatch": lambda r: {"results": [{"item_id": i, **_verdict(r)} for i in _ids(r)]},
        }
    )
    with (
        FakeArxivServer(entries) as arxiv,
        FeedServer() as feeds,
        OpenAIServer(responder) as llm,
        SlackServer() as slack,
    ):
        yield arxiv, feeds, llm, slack


def _configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers: tuple[Any, ...]) -> None:
    arxiv, feeds, llm, slack = servers
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    text = (config / "digestbot.toml").read_text(encoding="utf-8")
    text = text.replace("delay_seconds = 3.0", "delay_seconds = 0.0")
    text = text.replace("requests_per_second = 2.0", "requests_per_second = 200.0")
    text = re.sub(r"tags = \[[^\]]*\]", 'tags = ["llm"]', text, count=1)
    text = re.sub(r"topics = \[[^\]]*\]", 'topics = ["llm"]', text, count=1)
    text = text.replace("authors = []", 'authors = ["Jose Nunez-Alvarez"]', 1)
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
    monkeypatch.chdir(tmp_path)


def _run(first: str, last: str, out: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--from", first, "--to", last, "--out", str(out)])
    assert 0 == result.exit_code, result.output


def test_zenn_by_id_merges_into_the_paper_and_qiita_by_url_shows_its_earlier_paper(
    servers: tuple[FakeArxivServer, FeedServer, OpenAIServer, SlackServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Week 2's post: paper B with 解説記事 (Zenn, ♥ 42) and no Zenn entry of its own; the Qiita entry
    with 元論文 paper A and week 1's digest; paper C by a watched author first, in 注目 with 著者;
    digest.json carries the links and the match; hostile titles stay inert."""
    _configure(tmp_path, monkeypatch, servers)
    slack = servers[3]
    _run("2026-11-09", "2026-11-15", tmp_path / "week1")
    posted_before = len(slack.messages("C0DIGEST01"))
    _publish_articles(servers[1])  # the week-2 articles (the feeds change, so no 304 hides them)
    _run("2026-11-16", "2026-11-22", tmp_path / "week2")
    data = json.loads((tmp_path / "week2" / "digest.json").read_text(encoding="utf-8"))
    entries = {e["id"]: e for s in data["sections"] for e in s["entries"]}
    zenn_id = next(e["item_id"] for e in entries[f"arxiv:{PAPER_B[0]}"]["explainers"])
    qiita = next(e for e in entries.values() if e["source"] == "qiita")
    assert zenn_id.startswith("zenn:") and zenn_id not in entries
    assert [(f"arxiv:{PAPER_A[0]}", "2026-11-09..2026-11-15")] == [
        (p["item_id"], p["digest_period"]) for p in qiita["papers"]
    ]
    assert qiita["papers"][0]["digest_permalink"].startswith("http")
    week2 = slack.messages("C0DIGEST01")[posted_before:]
    text = json.dumps(week2, ensure_ascii=False)
    assert "📝 解説記事: " in text and "（Zenn, ♥ 42）" in text
    assert f"📄 元論文: <https://arxiv.org/abs/{PAPER_A[0]}" in text
    assert "11/9–11/15 のダイジェスト" in text
    assert "<!channel>" not in text and "@here" not in text and "<b>" not in text
    assert 1 == text.count("投機的デコーディング")  # the Zenn article appears once: under paper B
    first = data["sections"][0]
    assert ("watch", [f"arxiv:{PAPER_C[0]}"]) == (first["category"], [e["id"] for e in first["entries"]])
    assert [{"kind": "author", "value": "Jose Nunez-Alvarez"}] == first["entries"][0]["watch"]
    assert text.index("📌 注目") < text.index("🔎 著者: Jose Nunez-Alvarez") < text.index("📝 解説記事: ")
