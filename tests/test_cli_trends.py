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


def test_the_table_fits_80_columns_keeping_the_newest_weeks() -> None:
    """At 80 columns the 14 shipped categories and 12 weeks fit: long names end in …, the oldest weeks go."""
    from datetime import date, timedelta

    from rich.console import Console

    from digestbot.cli.cmd_trends import weekly_grid
    from digestbot.domain import Window
    from digestbot.settings import load_settings
    from digestbot.trends import WeeklyCounts

    categories = load_settings(Path(__file__).resolve().parents[1] / "config", {}).categories
    anchor = Window.between(date(2026, 11, 16), date(2026, 11, 22))
    weeks = tuple(
        Window(anchor.start - timedelta(weeks=b), anchor.end - timedelta(weeks=b)) for b in range(11, -1, -1)
    )
    counts = {c.id: tuple(None if w == 3 else w for w in range(12)) for c in categories}
    grid, hidden = weekly_grid(
        WeeklyCounts(weeks, tuple((c.id, c.name) for c in categories), counts), "Asia/Tokyo", width=80
    )
    console = Console(width=80, record=True)
    console.print(grid)
    lines = console.export_text().splitlines()
    assert (True, 2, True, True) == (
        max(console.measure(line).maximum for line in lines) <= 80,
        hidden,
        all(label in lines[2] for label in ("9/14", "10/12", "11/16")),  # one header line, nothing wrapped
        any("エージェント" in line and "11" in line for line in lines),
    ), "\n".join(lines)
