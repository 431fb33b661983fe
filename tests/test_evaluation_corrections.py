"""`digestbot eval --corrections`: the classifier on the team's category corrections, leave-one-out
(evaluation_corrections.py, cli/eval_corrections.py), through the real CLI on a SQLite store."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from digestbot.cli import app
from digestbot.store.schema import open_engine
from digestbot.testing.corrections_set import TEAM, TOPICS, store_corrections
from digestbot.testing.openai_server import OpenAIServer, by_schema

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    path = config / "digestbot.toml"
    path.write_text(path.read_text().replace("requests_per_second = 2.0", "requests_per_second = 200.0"))
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(config))
    monkeypatch.setenv("DIGESTBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DIGESTBOT_LLM_MODEL", raising=False)
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.chdir(tmp_path)  # no stray .env from the working directory
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def _store(data_dir: Path, topics: int | None = None) -> int:
    return store_corrections(open_engine(f"sqlite:///{data_dir / 'digestbot.sqlite'}"), topics=topics)


def test_no_corrections_is_one_clear_line_and_exit_0(data_dir: Path) -> None:
    """An empty store: one line that says how to make corrections, exit 0 (nothing is wrong)."""
    result = CliRunner().invoke(app, ["eval", "--corrections"])
    expected = (0, ["no category corrections stored yet — use 「カテゴリを直す」 in Slack"])
    assert expected == (result.exit_code, result.output.splitlines())


def test_offline_eval_prints_n_accuracy_macro_f1_with_intervals_and_the_corrections(
    data_dir: Path, tmp_path: Path
) -> None:
    """Offline by default: n, accuracy (Wilson) and macro-F1 (bootstrap) with and without the other
    corrections as examples, and each wrong -> right pair with how many are now right."""
    stored = _store(data_dir, topics=1)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval", "--corrections", "--json", str(out)])
    assert 0 == result.exit_code, result.output
    assert f"classifier on {stored} corrected items, agents: offline" in result.output
    figures = (
        r"[01]\.\d{3} \(\d+/" + str(stored) + r"\) \[[01]\.\d\d, [01]\.\d\d\] │ +[01]\.\d{3} \[[01]\.\d\d"
    )
    assert re.search(r"the other corrections \(leave-one-out, ≤ \d\) +│ +" + figures, result.output)
    assert re.search(r"none +│ +" + figures, result.output)
    assert re.search(r"│ other +│ agents +│ +2 │", result.output)
    report = json.loads(out.read_text(encoding="utf-8"))
    assert (stored, stored) == (report["n"], len(report["items"]))


def _shown(
    request: dict[str, Any],
) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str, str]]]:
    """Example title -> (right category, text), and (id, title, text) of the items of one request."""
    text = "\n".join(str(m["content"]) for m in request["messages"])
    found = re.findall(r'<example wrong="\w+" right="(\w+)"><title>([^<]*)</title><text>([^<]*)<', text)
    examples = {title: (right, body) for right, title, body in found}
    items = re.findall(r'<item id="([^"]+)">\n<source>\w+</source>\n<title>([^<]*)</title>', text)
    bodies = re.findall(r"</tags>\n<text>\n([^<]*)\n</text>", text)
    return examples, [(i, t, b) for (i, t), b in zip(items, bodies, strict=True)]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{5,}", text.lower())) - {"language", "models", "model", "large"}


def _follows_examples(request: dict[str, Any]) -> dict[str, Any]:
    """A model that files an item like the example sharing most words with its title, else 'other'."""
    examples, items = _shown(request)
    results = []
    for item_id, title, body in items:
        mine = _words(f"{title} {body}")
        overlap = {t: len(_words(f"{t} {text}") & mine) for t, (_, text) in examples.items()}
        best = max(overlap, key=lambda t: overlap[t], default="")
        primary = examples[best][0] if best and overlap[best] else "other"
        results.append({"item_id": item_id, "primary": primary, "confidence": 0.7, "reason": "例"})
    return {"results": results}


def test_llm_eval_never_shows_an_item_its_own_correction(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a model configured: no classifier request shows an item together with its own
    correction (leave-one-out, read at the model server), and examples that teach make it better."""
    stored = _store(data_dir)
    out = tmp_path / "report.json"
    with OpenAIServer(by_schema({"ClassificationBatch": _follows_examples})) as server:
        for name, value in {
            "DIGESTBOT_LLM_MODEL": "openai:gpt-4o-mini",
            "DIGESTBOT_LLM_BASE_URL": server.base_url,
            "DIGESTBOT_LLM_API_KEY": "sk-test-local",
        }.items():
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(app, ["eval", "--corrections", "--json", str(out)])
        requests = server.completions
    assert 0 == result.exit_code, result.output
    shown = [_shown(r) for r in requests]
    assert all(examples for examples, _ in shown[:-1]) and not shown[-1][0]  # the last: no examples
    assert all(title not in examples for examples, items in shown for _, title, _ in items)
    titles = {title for rows in TOPICS.values() for title, _ in rows}
    assert stored == len({title for _, items in shown[:-1] for _, title, _ in items} & titles)
    report = json.loads(out.read_text(encoding="utf-8"))
    with_examples, without = report["with_examples"], report["without"]
    assert (stored, 0) == (with_examples["n"], without["correct"])
    assert with_examples["correct"] > without["correct"], report["items"]
    assert set(TEAM.values()) >= {row["right"] for row in report["items"]}
