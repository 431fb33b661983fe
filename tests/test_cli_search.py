"""`digestbot search`: matching items of posted digests with their digest links."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from digestbot.cli import app
from digestbot.digest_json import digest_to_dict
from digestbot.store.digests import mark_posted, record_intent
from digestbot.store.schema import open_engine
from support.sample_digest import representative_digest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(ROOT / "config"))
    monkeypatch.setenv("DIGESTBOT_DATA_DIR", str(tmp_path))
    engine = open_engine(f"sqlite:///{tmp_path / 'digestbot.sqlite'}")
    record_intent(
        engine, channel="#c", period="p1", digest=digest_to_dict(representative_digest()), item_ids=[]
    )
    mark_posted(engine, "#c", "p1", channel_id="C1", ts=["1.0"], permalink="https://slack.example/p1")
    return tmp_path


def test_search_prints_items_and_the_digest_they_were_in(data_dir: Path) -> None:
    """A Japanese word finds the Qiita item; the output names the digest and its link."""
    result = CliRunner().invoke(app, ["search", "社内ドキュメント"])
    assert 0 == result.exit_code, result.output
    assert "digest p1 in #c: https://slack.example/p1" in result.output
    assert "社内ドキュメント検索をRAGで作り直した話" in result.output


def test_no_match_exits_1(data_dir: Path) -> None:
    """Nothing found: a short line and exit code 1."""
    result = CliRunner().invoke(app, ["search", "blockchain"])
    assert (1, "no past digest item matches\n") == (result.exit_code, result.output)
