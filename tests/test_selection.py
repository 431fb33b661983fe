"""A digest's week: the window's items plus late-announced arXiv papers no earlier digest showed."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from digestbot.domain import Item, SourceName, Window
from digestbot.selection import lag_window, late_announced, select_items
from digestbot.settings import load_settings
from digestbot.store import ItemStore
from digestbot.store.digests import mark_posted, record_intent

ROOT = Path(__file__).resolve().parents[1]
WINDOW = Window.between(date(2026, 11, 16), date(2026, 11, 22), "Asia/Tokyo")
BEFORE = WINDOW.start - timedelta(days=1)  # submitted on the Sunday before the window


def _item(item_id: str, published_offset: timedelta) -> Item:
    source = SourceName(item_id.split(":", maxsplit=1)[0])
    moment = WINDOW.start + published_offset
    return Item(id=item_id, source=source, url=f"https://example.org/{item_id}", title=item_id, text="LLM",
                published=moment, updated=moment)  # fmt: skip


def test_late_arxiv_papers_are_included_unless_already_shown() -> None:
    """A paper submitted before the window joins it unless an earlier digest showed it; feeds do not."""
    items = [
        _item("arxiv:2611.00001", timedelta(hours=5)),
        _item("arxiv:2611.00002", timedelta(days=-1)),
        _item("arxiv:2611.00003", timedelta(days=-2)),
        _item("qiita:aaaaaaaaaaaaaaaaaaaa", timedelta(days=-1)),
    ]
    kept = late_announced(items, WINDOW, already_shown={"arxiv:2611.00003"})
    assert ["arxiv:2611.00001", "arxiv:2611.00002"] == [i.id for i in kept]


def test_lag_window_reaches_back_by_the_configured_days(tmp_path: Path) -> None:
    """The fetched and inspected window starts `announcement_lag_days` earlier."""
    settings = load_settings(ROOT / "config", {"DIGESTBOT_DATA_DIR": str(tmp_path)})
    assert (WINDOW.start - timedelta(days=4), WINDOW.end) == (
        lag_window(settings, WINDOW).start,
        lag_window(settings, WINDOW).end,
    )


def test_select_items_skips_papers_in_an_earlier_posted_digest(tmp_path: Path) -> None:
    """Against the store: last week's posted digest hides its papers, not the late ones it never had."""
    settings = load_settings(ROOT / "config", {"DIGESTBOT_DATA_DIR": str(tmp_path)})
    shown, late, inside = (
        _item("arxiv:2611.00010", timedelta(days=-3)),
        _item("arxiv:2611.00011", timedelta(days=-1)),
        _item("arxiv:2611.00012", timedelta(days=2)),
    )
    with ItemStore(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.upsert([shown, late, inside])
        record_intent(store.engine, channel="#llm-digest", period="2026-11-09..2026-11-15", digest={},
                      item_ids=[shown.id])  # fmt: skip
        mark_posted(store.engine, "#llm-digest", "2026-11-09..2026-11-15", channel_id="C1", ts=["1.0"],
                    permalink=None)  # fmt: skip
        record_intent(store.engine, channel="#llm-digest", period="2026-11-16..2026-11-22#ondemand-3d",
                      digest={}, item_ids=[late.id])  # fmt: skip
        mark_posted(store.engine, "#llm-digest", "2026-11-16..2026-11-22#ondemand-3d", channel_id="C1",
                    ts=["2.0"], permalink=None)  # fmt: skip
        selected = select_items(settings, store, WINDOW, None)
    assert [late.id, inside.id] == [i.id for i in selected]
