"""`digestbot run --dry-run` end to end: local arXiv/Qiita/Zenn servers, the real ChatOpenAI against a
local OpenAI-compatible server, digest files out; a second run makes zero LLM calls."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.support.agents import per_item_agents
from typer.testing import CliRunner

from digestbot.cli import app
from digestbot.sources.text import japanese_ratio
from digestbot.testing.arxiv_server import FakeArxivServer, synthetic_entries
from digestbot.testing.feed_builders import synthetic_qiita_items, synthetic_zenn_articles
from digestbot.testing.feed_server import FeedServer
from digestbot.testing.openai_server import OpenAIServer, by_schema

ROOT = Path(__file__).resolve().parents[1]
START, END = datetime(2026, 11, 15, 15, tzinfo=UTC), datetime(2026, 11, 22, 15, tzinfo=UTC)
BLURBS = [
    "検索拡張生成の新手法を提案。再現率が12%向上。",
    "推論を高速化する手法を提案。",
    "新しい評価ベンチマークを構築。",
]


def _user_text(request: dict[str, Any]) -> str:
    return str(request["messages"][-1]["content"])


def _classify(request: dict[str, Any]) -> dict[str, Any]:
    ids = re.findall(r'<item id="([^"]+)">', _user_text(request))
    cats = ["rag", "efficiency", "agents", "eval"]
    return {
        "results": [
            {
                "item_id": i,
                "primary": cats[n % 4],
                "secondary": [],
                "confidence": 0.8,
                "relevance": 4,
                "reason": "主題",
            }
            for n, i in enumerate(ids)
        ]
    }


def _summarize(request: dict[str, Any]) -> dict[str, Any]:
    return {"blurb": BLURBS[len(_user_text(request)) % len(BLURBS)]}


def _judge(_: dict[str, Any]) -> dict[str, Any]:
    return {
        "relevance": 4,
        "significance": 4,
        "faithfulness": 5,
        "japanese": 5,
        "rationale": "妥当",
        "feedback": "",
    }


@pytest.fixture
def servers() -> Iterator[tuple[FakeArxivServer, FeedServer, OpenAIServer]]:
    entries = synthetic_entries(40, seed=3, start=START, end=END)
    responder = by_schema({"ClassificationBatch": _classify, "Blurb": _summarize, "Verdict": _judge})
    with FakeArxivServer(entries) as arxiv, FeedServer() as feeds, OpenAIServer(responder) as llm:
        feeds.publish_qiita(synthetic_qiita_items(12, seed=1, end=END), tags=["llm"])
        feeds.publish_zenn(synthetic_zenn_articles(8, seed=2, end=END), topics=["llm"])
        yield arxiv, feeds, llm


def _env(tmp_path: Path, arxiv: FakeArxivServer, feeds: FeedServer, llm: OpenAIServer) -> dict[str, str]:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    text = (config / "digestbot.toml").read_text(encoding="utf-8")
    text = text.replace("delay_seconds = 3.0", "delay_seconds = 0.0")
    text = text.replace("requests_per_second = 2.0", "requests_per_second = 200.0")
    text = re.sub(r"tags = \[[^\]]*\]", 'tags = ["llm"]', text, count=1)
    text = re.sub(r"topics = \[[^\]]*\]", 'topics = ["llm"]', text, count=1)
    (config / "digestbot.toml").write_text(text, encoding="utf-8")
    return {
        "DIGESTBOT_CONFIG_DIR": str(config),
        "DIGESTBOT_AGENTS_DIR": str(per_item_agents()),  # the responders answer one item per request
        "DIGESTBOT_DATA_DIR": str(tmp_path / "data"),
        "DIGESTBOT_ARXIV_API_URL": arxiv.url,
        "DIGESTBOT_QIITA_BASE_URL": feeds.base_url,
        "DIGESTBOT_ZENN_BASE_URL": feeds.base_url,
        "DIGESTBOT_LLM_MODEL": "openai:gpt-4o-mini",
        "DIGESTBOT_LLM_BASE_URL": llm.base_url,
        "DIGESTBOT_LLM_API_KEY": "sk-test-local",
    }


def test_dry_run_with_local_llm_then_cached_rerun(
    servers: tuple[FakeArxivServer, FeedServer, OpenAIServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every digest item has a configured category, a Japanese blurb within the limit and judge scores;
    re-running the window sends no request to the LLM."""
    arxiv, feeds, llm = servers
    for name, value in _env(tmp_path, arxiv, feeds, llm).items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    args = ["run", "--dry-run", "--from", "2026-11-16", "--to", "2026-11-22", "--out", str(out)]
    first = CliRunner().invoke(app, args)
    assert 0 == first.exit_code, first.output
    calls_after_first = len(llm.requests)
    data = json.loads((out / "digest.json").read_text(encoding="utf-8"))
    entries = [e for s in data["sections"] for e in s["entries"]]
    configured = {
        line.split('"')[1]
        for line in (ROOT / "config/categories.toml").read_text().splitlines()
        if line.startswith("id = ")
    }
    assert entries
    assert all(e["category"] in configured for e in entries)
    assert all(len(e["blurb"]) <= 120 and japanese_ratio(e["blurb"]) >= 0.5 for e in entries)
    assert all(set(e["scores"]) >= {"relevance", "significance", "faithfulness", "japanese"} for e in entries)
    assert (out / "blocks.json").exists()
    assert calls_after_first > 0

    second = CliRunner().invoke(app, args)
    assert 0 == second.exit_code, second.output
    assert calls_after_first == len(llm.requests)


def test_arxiv_cut_off_by_max_results_is_warned_in_the_report_and_digest_json(
    servers: tuple[FakeArxivServer, FeedServer, OpenAIServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 papers match but max_results = 10: the run report warns, digest.json says how many were cut
    off (`sources.arxiv.cut_off`) and the digest carries a note; nothing is truncated silently."""
    arxiv, feeds, llm = servers
    for name, value in _env(tmp_path, arxiv, feeds, llm).items():
        monkeypatch.setenv(name, value)
    toml = tmp_path / "config" / "digestbot.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("max_results = 10000", "max_results = 10"))
    out = tmp_path / "out"
    args = ["run", "--dry-run", "--from", "2026-11-16", "--to", "2026-11-22", "--out", str(out)]

    result = CliRunner().invoke(app, args)

    assert 0 == result.exit_code, result.output
    data = json.loads((out / "digest.json").read_text(encoding="utf-8"))
    expected = (30, True, True)
    assert expected == (
        data["sources"]["arxiv"].get("cut_off"),
        "max_results = 10 stopped the fetch at 10" in " ".join(result.output.split()),
        any("40件のうち10件" in note for note in data["notes"]),
    )


def test_posting_without_a_slack_token_stops_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run` (not --dry-run) with no SLACK_BOT_TOKEN exits 2 at once, naming the variable and --dry-run."""
    monkeypatch.setenv("DIGESTBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(ROOT / "config"))
    result = CliRunner().invoke(app, ["run", "--no-fetch"])
    assert (2, True, False) == (
        result.exit_code,
        "SLACK_BOT_TOKEN is not set" in result.output and "--dry-run" in result.output,
        (tmp_path / "data").exists(),
    )


def test_model_without_key_is_a_config_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A configured model with no API key exits 2 with the variables to set."""
    monkeypatch.chdir(tmp_path)
    for name in ("DIGESTBOT_LLM_API_KEY", "OPENAI_API_KEY", "DIGESTBOT_LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(ROOT / "config"))
    monkeypatch.setenv("DIGESTBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DIGESTBOT_LLM_MODEL", "openai:gpt-4o-mini")
    monkeypatch.setenv("DIGESTBOT_AGENTS_DIR", str(per_item_agents()))
    result = CliRunner().invoke(app, ["run", "--dry-run", "--no-fetch"])
    said = " ".join(result.output.split())
    assert (2, True) == (result.exit_code, "set DIGESTBOT_LLM_API_KEY or OPENAI_API_KEY" in said), said


def _inexact_classifier() -> Any:
    """Batch answers: item 2 under an unknown category, item 3 left out, item 5 twice; repairs exact."""

    def respond(request: dict[str, Any]) -> dict[str, Any]:
        exact = _classify({"messages": [m for m in request["messages"] if "<item id=" in str(m["content"])]})
        if "前回の出力は" in _user_text(request) or len(exact["results"]) < 5:
            return exact
        results = [dict(r) for r in exact["results"] if r["item_id"] != "3"]
        results[1]["primary"] = "llm"
        return {"results": [*results, dict(results[3])]}

    return respond


def test_inexact_llm_answers_are_repaired_named_and_the_admin_channel_is_warned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown category, missing and duplicated items: one repair per batch (2 calls each), every
    affected item named in the report and digest.json, and > 20 % of the stage warns in red and on Slack."""
    from digestbot.testing.slack_server import SlackServer

    entries = synthetic_entries(40, seed=3, start=START, end=END)
    responder = by_schema(
        {"ClassificationBatch": _inexact_classifier(), "Blurb": _summarize, "Verdict": _judge}
    )
    with (
        FakeArxivServer(entries) as arxiv,
        FeedServer() as feeds,
        OpenAIServer(responder) as llm,
        SlackServer() as slack,
    ):
        for name, value in _env(tmp_path, arxiv, feeds, llm).items():
            monkeypatch.setenv(name, value)
        toml = tmp_path / "config" / "digestbot.toml"
        toml.write_text(
            toml.read_text(encoding="utf-8").replace('admin_channel = ""', 'admin_channel = "#random"'),
            encoding="utf-8",
        )
        agents = shutil.copytree(per_item_agents(), tmp_path / "agents")  # classifier batches of 8 here
        classifier = agents / "classifier.md"
        text = classifier.read_text(encoding="utf-8")
        classifier.write_text(re.sub(r"^batch_size:.*$", "batch_size: 8", text, count=1, flags=re.M), "utf-8")
        monkeypatch.setenv("DIGESTBOT_AGENTS_DIR", str(agents))
        monkeypatch.setenv("DIGESTBOT_SLACK_API_URL", slack.api_url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
        monkeypatch.setenv("COLUMNS", "250")
        out = tmp_path / "out"
        result = CliRunner().invoke(
            app, ["run", "--from", "2026-11-16", "--to", "2026-11-22", "--out", str(out)]
        )
        classifier_calls = [
            b for b in llm.completions if b["response_format"]["json_schema"]["name"] == "ClassificationBatch"
        ]
        admin = slack.messages("C0RANDOM02")
    assert 0 == result.exit_code, result.output
    stats = json.loads((out / "digest.json").read_text(encoding="utf-8"))["stats"]
    usage = stats["usage"]["per_agent"]["classifier"]
    full_batches = usage["items"] // 8
    assert full_batches >= 2
    expected = (usage["repairs"], 0, 0)
    assert expected == (full_batches, usage["retries"], usage["failures"])
    assert len(classifier_calls) <= 2 * -(-usage["items"] // 8)  # at most two calls per batch
    repaired = [i["item_id"] for i in stats["incidents"] if i["agent"] == "classifier"]
    assert 3 * full_batches == len(set(repaired))
    assert all(item_id in result.output for item_id in repaired)
    assert "WARNING classifier:" in result.output
    assert 1 == len(admin)
    assert "20%超" in admin[0]["text"] and repaired[0] in admin[0]["text"]
