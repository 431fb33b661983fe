"""`digestbot eval --judge FILE`: the judge on planted defects, offline and through a local LLM server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from digestbot.cli import app
from digestbot.testing.openai_server import OpenAIServer, by_schema

REPO = Path(__file__).resolve().parents[1]
DEFECTS = REPO / "evals" / "judge-defects.jsonl"
MUST_CATCH = ("wrong_language", "over_length", "placeholder", "invented_number", "injected", "empty_frame")


@pytest.fixture(autouse=True)
def repo_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(REPO / "config"))
    monkeypatch.delenv("DIGESTBOT_LLM_MODEL", raising=False)
    monkeypatch.chdir(tmp_path)


def _bench(tmp_path: Path, *extra: str, defects: Path = DEFECTS) -> dict[str, Any]:
    out = tmp_path / "judge.json"
    result = CliRunner().invoke(app, ["eval", "--judge", str(defects), "--json", str(out), *extra])
    assert 0 == result.exit_code, result.output
    assert "clean blurbs rejected" in result.output
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


def test_the_defects_file_is_rebuilt_identically(tmp_path: Path) -> None:
    """The builder is deterministic: rebuilding gives the committed file byte for byte."""
    out = tmp_path / "defects.jsonl"
    script = REPO / "evals" / "build_judge_defects.py"
    subprocess.run([sys.executable, str(script), "--out", str(out)], check=True, capture_output=True)
    assert DEFECTS.read_bytes() == out.read_bytes()


def test_offline_judge_with_guards_meets_the_targets(tmp_path: Path) -> None:
    """Offline: every wrong-language, over-length, placeholder, invented-number, injected and
    empty-frame blurb is rejected, >= 90 % of misattributed numbers; few clean blurbs are rejected."""
    report = _bench(tmp_path, "--offline")
    detection = {kind: found / total for kind, (found, total) in report["detection"].items()}
    rejected, clean = report["clean_rejected"]
    assert [1.0] * len(MUST_CATCH) == [detection[kind] for kind in MUST_CATCH]
    assert detection["misattributed_number"] >= 0.9
    assert rejected / clean <= 0.1  # 1 of 18: one curator blurb is over the configured 120 characters


@pytest.fixture
def lenient_llm() -> Iterator[OpenAIServer]:
    """A model that gives every blurb top marks: only the code guards can reject anything."""
    verdict = {"relevance": 5, "significance": 5, "faithfulness": 5, "japanese": 5, "rationale": "良い"}
    with OpenAIServer(by_schema({"Verdict": lambda _: {**verdict, "feedback": ""}})) as server:
        yield server


def test_llm_judge_is_capped_by_the_guards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lenient_llm: OpenAIServer
) -> None:
    """Plumbing: the real LLM client judges every row of the first three papers (every defect kind);
    a lenient verdict cannot keep guarded defects. (The offline test above runs the whole file.)"""
    monkeypatch.setenv("DIGESTBOT_LLM_MODEL", "openai:gpt-4o-mini")
    monkeypatch.setenv("DIGESTBOT_LLM_BASE_URL", lenient_llm.base_url)
    monkeypatch.setenv("DIGESTBOT_LLM_API_KEY", "sk-test-local")
    monkeypatch.setenv("DIGESTBOT_AGENTS_DIR", str(REPO / "agents"))
    lines = DEFECTS.read_text(encoding="utf-8").splitlines()
    papers = list(dict.fromkeys(json.loads(line)["paper_id"] for line in lines))[:3]
    subset = [line for line in lines if json.loads(line)["paper_id"] in papers]
    defects = tmp_path / "defects-subset.jsonl"
    defects.write_text("\n".join(subset) + "\n", encoding="utf-8")
    report = _bench(tmp_path, "--map", str(DEFECTS.parent / "category_map.toml"), defects=defects)
    rows = len(subset)
    detection = {kind: found / total for kind, (found, total) in report["detection"].items()}
    assert (rows, 0) == (len(lenient_llm.requests), report["errors"])
    assert [1.0] * len(MUST_CATCH) == [detection[kind] for kind in MUST_CATCH]
