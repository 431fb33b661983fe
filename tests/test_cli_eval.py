"""`digestbot eval`: runs the agents on labeled papers and prints the metrics (cli/cmd_eval.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digestbot.cli import app

REPO = Path(__file__).resolve().parents[1]
DEV_SET = REPO / "evals" / "papers-dev.jsonl"


@pytest.fixture(autouse=True)
def repo_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(REPO / "config"))
    monkeypatch.delenv("DIGESTBOT_LLM_MODEL", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the working directory


def test_offline_eval_on_the_dev_set_prints_accuracy() -> None:
    """`digestbot eval --offline --no-loo FILE` exits 0 and prints accuracy and confusion rows only."""
    result = CliRunner().invoke(app, ["eval", "--offline", "--no-loo", str(DEV_SET)])
    expected = (0, True, True, False)
    assert expected == (
        result.exit_code,
        "accuracy" in result.output,
        "RAG/ロングコンテキスト" in result.output,
        "LOO accuracy" in result.output,
    )


def test_offline_eval_prints_leave_one_out_figures_with_intervals() -> None:
    """By default the offline eval adds LOO accuracy (Wilson) and macro-F1 (bootstrap) with intervals."""
    result = CliRunner(env={"COLUMNS": "120"}).invoke(
        app, ["eval", "--offline", "--limit", "4", str(DEV_SET)]
    )
    assert 0 == result.exit_code
    assert re.search(
        r"LOO accuracy \(Wilson\) +│ +[01]\.\d{3} \(\d/4\) \[0\.\d\d, [01]\.\d\d\]", result.output
    )
    assert re.search(r"LOO macro-F1 \(bootstrap\) +│ +[01]\.\d{3} \[[01]\.\d\d, [01]\.\d\d\]", result.output)
    assert "chosen on all papers" in result.output


def test_json_report_and_limit(tmp_path: Path) -> None:
    """--limit N evaluates the first N papers; --json writes the full report."""
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval", "--offline", "--limit", "3", "--json", str(out), str(DEV_SET)])
    report = json.loads(out.read_text(encoding="utf-8"))
    expected = (0, 3, 3)
    assert expected == (result.exit_code, report["papers"], len(report["outcomes"]))
    assert 0.0 <= report["accuracy"] <= 1.0


def test_unmapped_label_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    """A label the category map does not know stops the run before any agent call."""
    paper = {"id": "x", "category_ja": "新カテゴリ", "arxiv_id": "2401.00001", "title_en": "T"}
    paper |= {"abstract_en": "A", "blurb_ja": "B"}
    papers = tmp_path / "papers.jsonl"
    papers.write_text(json.dumps(paper, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp_path / "category_map.toml").write_text('[categories]\n"RAG系" = ["rag"]\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "--offline", str(papers)])
    expected = (2, True)
    assert expected == (result.exit_code, "no mapping for label(s) 新カテゴリ" in result.output)


def test_missing_file_exits_2() -> None:
    """A labeled file that does not exist is a one-line error, not a traceback."""
    category_map = str(REPO / "evals" / "category_map.toml")
    result = CliRunner().invoke(app, ["eval", "--offline", "nope.jsonl", "--map", category_map])
    expected = (2, True)
    assert expected == (result.exit_code, "nope.jsonl: file not found" in result.output)
