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


def _voted_store(tmp_path: Path, count: int) -> None:
    """`count` generated voted items (tests/support/taste_votes.py), stored, voted, and posted with the
    judge's ranks in one archived digest."""
    from tests.support.taste_votes import judge_rank, vote_set

    from digestbot.store.digests import mark_posted, record_intent

    voted = vote_set(count, seed=7)
    engine = open_engine(f"sqlite:///{tmp_path / 'digestbot.sqlite'}")
    with ItemStore(engine) as store:
        store.upsert([v.item for v in voted])
    for v in voted:
        record_vote(
            engine, item_id=v.item.id, category="rag", user_hash=hash_user("T", "U1"), up=v.up, now=v.voted_at
        )
    entries = [{"id": v.item.id, "rank": judge_rank(v.scores)} for v in voted]
    digest = {"sections": [{"category": "rag", "entries": entries}]}
    ids = [v.item.id for v in voted]
    record_intent(engine, channel="#llm-digest", period="2026-09-01..2026-11-30", digest=digest, item_ids=ids)
    mark_posted(engine, "#llm-digest", "2026-09-01..2026-11-30", channel_id="C1", ts=["1.0"], permalink=None)


def test_feedback_eval_prints_learned_and_untuned_balanced_accuracy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On 60 generated votes with a known taste, `feedback --eval --train 40` prints the split's counts
    and both balanced accuracies with bootstrap intervals; the learned one is the better."""
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(ROOT / "config"))
    monkeypatch.setenv("DIGESTBOT_DATA_DIR", str(tmp_path))
    _voted_store(tmp_path, 60)
    result = CliRunner().invoke(app, ["feedback", "--eval", "--train", "40"])
    assert 0 == result.exit_code, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("time split: trained on the 40 oldest voted items (2026-09-01..2026-10-10: ")
    assert "tested on the 20 newest (2026-10-11..2026-10-30: " in lines[0]
    learned, untuned = (
        next(line for line in lines if line.startswith(name)) for name in ("learned", "untuned")
    )
    learned_ba, untuned_ba = float(learned[34:].split()[0]), float(untuned[34:].split()[0])
    assert (True, True) == (learned_ba >= 0.70, learned_ba - untuned_ba >= 0.05), result.output
    assert learned.rstrip().endswith("/20") and "[" in learned
    assert any(line.startswith("difference") for line in lines)


def test_feedback_eval_says_when_there_are_too_few_votes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight votes: no figures, one line saying there are too few and what is needed."""
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(ROOT / "config"))
    monkeypatch.setenv("DIGESTBOT_DATA_DIR", str(tmp_path))
    _voted_store(tmp_path, 8)
    result = CliRunner().invoke(app, ["feedback", "--eval"])
    assert 0 == result.exit_code, result.output
    expected = "too few votes to evaluate the learned ranking: 6 older voted items to learn from"
    assert result.output.startswith(expected), result.output
