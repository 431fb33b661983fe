"""The weekly chart PNG: Japanese glyphs available, phone width, one panel per category, deterministic."""

from __future__ import annotations

import logging
import struct
import warnings
from pathlib import Path

import pytest
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

from digestbot.chart import WIDTH_PX, japanese_font, render_chart, save_chart, title_size
from digestbot.domain import Window
from digestbot.trends import WEEK, WeeklyCounts
from support.sample_digest import WINDOW

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def table(categories: int, weeks: int = 12) -> WeeklyCounts:
    """A table with a gap in week 3 and counts that vary by category and week."""
    windows = tuple(Window(WINDOW.start - k * WEEK, WINDOW.end - k * WEEK) for k in reversed(range(weeks)))
    cats = tuple((f"c{n}", f"カテゴリ{n}・推論高速化") for n in range(categories))
    counts = {
        cid: tuple(None if w == 3 else (w * (n + 1)) % 9 for w in range(weeks))
        for n, (cid, _) in enumerate(cats)
    }
    return WeeklyCounts(windows, cats, counts)


def size(png: bytes) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk."""
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_the_chosen_font_has_japanese_glyphs() -> None:
    """The font the chart uses can draw 週, カ and 件."""
    path = font_manager.findfont(
        font_manager.FontProperties(family=japanese_font()), fallback_to_default=False
    )
    font = FT2Font(path)
    assert [True, True, True] == [font.get_char_index(ord(ch)) != 0 for ch in "週カ件"]


def test_chart_is_a_phone_wide_png_without_missing_glyphs() -> None:
    """1080 px wide, a real PNG, and matplotlib reports no glyph missing from the font."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = render_chart(table(8))
    assert PNG_MAGIC == png[:8]
    assert WIDTH_PX == size(png)[0]
    assert [] == [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_more_categories_make_a_taller_chart() -> None:
    """Panels are stacked two per row, so eight categories are taller than two."""
    assert size(render_chart(table(2)))[1] < size(render_chart(table(8)))[1]


def test_same_table_same_bytes() -> None:
    """Rendering is deterministic (no timestamp in the PNG)."""
    assert render_chart(table(3)) == render_chart(table(3))


def test_an_empty_table_still_renders() -> None:
    """No category yet: a single empty panel instead of an error."""
    png = render_chart(WeeklyCounts((WINDOW,), (), {}))
    assert PNG_MAGIC == png[:8]


def test_save_chart_writes_the_file(tmp_path: Path) -> None:
    """save_chart creates the folder and writes the bytes."""
    path = save_chart(b"png", tmp_path / "out" / "chart.png")
    assert b"png" == path.read_bytes()


def test_drawing_logs_no_findfont_warning(caplog: pytest.LogCaptureFixture) -> None:
    """No `findfont: Failed to find font weight bold` on every chart (nothing asks for bold)."""
    caplog.set_level(logging.INFO, logger="matplotlib.font_manager")
    render_chart(table(3))
    assert [] == [r.getMessage() for r in caplog.records if "findfont" in r.getMessage()]


def test_the_longest_category_title_fits_its_panel() -> None:
    """A long name gets a smaller title (down to 7 pt) instead of running past the panel's edge."""
    longest = "エージェント/マルチエージェント　今週 12件"
    assert (12, True) == (title_size("訓練系　今週 3件"), 7 <= title_size(longest) < 12)
