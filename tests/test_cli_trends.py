"""`digestbot trends`: the weekly table from the archive and the saved chart."""

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
    return tmp_path


def test_trends_prints_the_table_and_saves_the_png(data_dir: Path) -> None:
    """A posted weekly digest: its counts in the last column, and a PNG written."""
    engine = open_engine(f"sqlite:///{data_dir / 'digestbot.sqlite'}")
    record_intent(
        engine, channel="#c", period="p", digest=digest_to_dict(representative_digest()), item_ids=[]
    )
    mark_posted(engine, "#c", "p", channel_id="C1", ts=["1.0"], permalink=None)
    result = CliRunner().invoke(app, ["trends", "--weeks", "8", "--out", str(data_dir / "t.png")])
    assert 0 == result.exit_code, result.output
    rag_row = next(line for line in result.output.splitlines() if "RAG" in line)
    assert rag_row.rstrip(" │").endswith("5")
    assert b"\x89PNG" == (data_dir / "t.png").read_bytes()[:4]


def test_trends_without_any_posted_digest_says_what_to_run(data_dir: Path) -> None:
    """An empty archive: exit 1 and a hint."""
    result = CliRunner().invoke(app, ["trends"])
    assert (1, True) == (result.exit_code, "digestbot run" in result.output)
