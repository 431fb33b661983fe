"""`digestbot preview`: writes the Slack-like HTML page of the last (or a given) digest."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import digest_with_left_out
from typer.testing import CliRunner

from digestbot.cli import app
from digestbot.digest_json import digest_to_dict, save_latest, write_json
from digestbot.settings import load_settings
from support.sample_digest import large_digest, representative_digest

CONFIG = Path(__file__).resolve().parents[1] / "config"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(CONFIG))
    monkeypatch.setenv("DIGESTBOT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_preview_defaults_to_the_last_digest_in_the_data_dir(workdir: Path) -> None:
    """No options: latest.json in, data/digests/preview.html out, with the digest's titles."""
    save_latest(representative_digest(), load_settings())
    result = CliRunner().invoke(app, ["preview"])
    page = (workdir / "data" / "digests" / "preview.html").read_text(encoding="utf-8")
    assert (result.exit_code, "KV-Cache Quantization to 2 Bits" in page, "# llm-digest" in page) == (
        0,
        True,
        True,
    )


def test_preview_of_a_given_file_to_a_given_path(workdir: Path) -> None:
    """--digest and --out choose input and output; the thread replies are on the page."""
    source = write_json(workdir / "other.json", digest_to_dict(large_digest(categories=3, per_category=25)))
    result = CliRunner().invoke(
        app, ["preview", "--digest", str(source), "--out", str(workdir / "out" / "p.html")]
    )
    page = (workdir / "out" / "p.html").read_text(encoding="utf-8")
    assert (result.exit_code, "スレッド" in page) == (0, True)


def test_preview_without_a_saved_digest_exits_1(workdir: Path) -> None:
    """Nothing saved yet: exit 1 with what to run."""
    result = CliRunner().invoke(app, ["preview"])
    assert (result.exit_code, "run `digestbot run`" in result.output) == (1, True)


def test_preview_lists_every_left_out_item_and_each_entrys_reason(workdir: Path) -> None:
    """Dropped (with the prefilter rule), capped (with category and rank) and held back (with the failure)
    are listed below the messages, escaped, with each posted entry's classifier reason."""
    save_latest(digest_with_left_out(), load_settings())
    result = CliRunner().invoke(app, ["preview"])
    page = (workdir / "data" / "digests" / "preview.html").read_text(encoding="utf-8")
    assert 0 == result.exit_code, result.output
    expected = [
        "掲載されなかった項目 3件",
        "no_keyword: 0 of the 1 topic terms needed",
        '<td class="num">3</td><td class="num">3.91</td><td>category cap: rag shows its best 2</td>',
        "held back: faithfulness 7 is outside 1..5",
        "Sourdough &lt;script&gt;",
        "RAGが主題 &lt;b&gt;",
    ]
    assert [] == [text for text in expected if text not in page]
    assert "<script>" not in page and "javascript:" not in page


def test_preview_shows_who_followed_items_are_for(workdir: Path) -> None:
    """A member following the first item's category: the page carries the 👀 line (a mention shown inert)."""
    from digestbot.follows import Topic
    from digestbot.store import follows
    from digestbot.store.schema import open_engine

    settings = load_settings()
    digest = representative_digest()
    save_latest(digest, settings)
    engine = open_engine(settings.store_url)
    topic = Topic("category", digest.sections[0].category)
    follows.add_topics(engine, "U0ALICE01", [topic], display_name="alice", limit=5)
    engine.dispose()
    result = CliRunner().invoke(app, ["preview"])
    page = (workdir / "data" / "digests" / "preview.html").read_text(encoding="utf-8")
    assert (result.exit_code, "👀" in page, "U0ALICE01" in page) == (0, True, True)
