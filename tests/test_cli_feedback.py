"""`digestbot feedback`: votes by category and source, and the judge's current guidance."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.conftest import build_item
from typer.testing import CliRunner

from digestbot.cli import app
from digestbot.feedback import hash_user, record_vote
from digestbot.store import ItemStore
from digestbot.store.schema import open_engine

ROOT = Path(__file__).resolve().parents[1]


def test_feedback_summarizes_votes_and_shows_the_guidance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two readers' votes: counts per category and source, the liked title as judge guidance."""
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(ROOT / "config"))
    monkeypatch.setenv("DIGESTBOT_DATA_DIR", str(tmp_path))
    engine = open_engine(f"sqlite:///{tmp_path / 'digestbot.sqlite'}")
    with ItemStore(engine) as store:
        store.upsert([build_item("arxiv:2611.00001", title="GraphRAG in practice")])
    now = datetime.now(UTC)
    for user in ("U1", "U2"):
        record_vote(
            engine,
            item_id="arxiv:2611.00001",
            category="rag",
            user_hash=hash_user("T", user),
            up=True,
            now=now,
        )
    result = CliRunner().invoke(app, ["feedback"])
    assert 0 == result.exit_code, result.output
    assert "2 votes by 2 readers" in result.output
    assert "judge guidance, liked: GraphRAG in practice" in result.output
