from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digestbot.cli import app
from digestbot.cli.cmd_fetch import resolve_window
from digestbot.domain import SourceName, Window
from digestbot.settings import ENV_OVERRIDES, load_settings
from digestbot.store import ItemStore
from digestbot.testing.arxiv_server import FakeArxivServer, synthetic_entries
from digestbot.testing.feed_builders import synthetic_qiita_items, synthetic_zenn_articles
from digestbot.testing.feed_server import FeedServer

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config"
DAYS = ["--from", "2026-01-05", "--to", "2026-01-11"]  # Asia/Tokyo days
WINDOW = Window.between(date(2026, 1, 5), date(2026, 1, 11), "Asia/Tokyo")
DATA_END = datetime(2026, 1, 10, tzinfo=UTC)


def write_config(folder: Path, *, arxiv: str, qiita: str, zenn: str) -> Path:
    """A config folder with the repo's categories and sources pointing at local URLs, no retries."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_CONFIG / "categories.toml", folder / "categories.toml")
    (folder / "digestbot.toml").write_text(
        f"""
[general]
timezone = "Asia/Tokyo"
default_window_days = 7

[sources.arxiv]
api_url = "{arxiv}"
categories = ["cs.CL"]
page_size = 100
delay_seconds = 0
timeout_seconds = 5
max_retries = 0

[sources.qiita]
base_url = "{qiita}"
tags = ["LLM"]

[sources.zenn]
base_url = "{zenn}"
topics = ["llm"]
api_pages = 1

[http]
timeout_seconds = 5
max_retries = 0
backoff_seconds = 0
""",
        encoding="utf-8",
    )
    return folder


@pytest.fixture
def refused_url() -> Iterator[str]:
    """An http URL on 127.0.0.1 whose port is bound but not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment: no endpoint overrides or tokens leak in; data under tmp_path."""
    for name in [*ENV_OVERRIDES, "QIITA_TOKEN"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DIGESTBOT_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def use_config(env, folder: Path, *, arxiv: str, qiita: str, zenn: str) -> Path:
    """Write the config folder and point DIGESTBOT_CONFIG_DIR at it."""
    write_config(folder, arxiv=arxiv, qiita=qiita, zenn=zenn)
    env.setenv("DIGESTBOT_CONFIG_DIR", str(folder))
    return folder


def run_fetch(*args: str):
    return CliRunner().invoke(app, ["fetch", *args])


def stored_by_source(url: str) -> dict[SourceName, int]:
    with ItemStore(url) as store:
        return {name: len(store.items_in_window(WINDOW, sources=[name])) for name in SourceName}


# --- arguments and config -------------------------------------------------------------------------


def test_unknown_source_name_is_a_usage_error_listing_valid_ones(env, tmp_path, refused_url):
    """`--source hatena` exits 2 and names the valid sources."""
    use_config(env, tmp_path / "cfg", arxiv=refused_url, qiita=refused_url, zenn=refused_url)

    result = run_fetch("--source", "arxiv,hatena")

    expected = (2, True)
    assert expected == (
        result.exit_code,
        "unknown source 'hatena' (valid: arxiv, qiita, zenn)" in result.stderr,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "7d", "--from", "2026-01-05"], "use either --since or --from/--to"),
        (["--from", "2026-13-01"], "--from '2026-13-01' is not a date"),
        (["--to", "2026-01-05"], "--to needs --from"),
        (["--since", "seven days"], "cannot read 'seven days' as a duration"),
        (["--from", "2026-01-10", "--to", "2026-01-05"], "is later than --to 2026-01-05 (Asia/Tokyo)"),
        (["--from", "9999-12-25", "--to", "9999-12-31"], "--to 9999-12-31 is out of range"),
    ],
)
def test_bad_window_arguments_exit_2(env, tmp_path, refused_url, args, message):
    """Contradictory or unreadable window options exit 2 with a message saying what to write."""
    use_config(env, tmp_path / "cfg", arxiv=refused_url, qiita=refused_url, zenn=refused_url)

    result = run_fetch(*args)

    expected = (2, True)
    assert expected == (result.exit_code, message in result.stderr)


def test_missing_config_exits_2(env, tmp_path):
    """A config folder without digestbot.toml is a config error (exit 2)."""
    env.setenv("DIGESTBOT_CONFIG_DIR", str(tmp_path / "nowhere"))

    result = run_fetch()

    expected = (2, True)
    assert expected == (result.exit_code, "config error" in result.stderr)


def test_window_defaults_to_configured_days(env, tmp_path, refused_url):
    """Without options the window is the last `default_window_days` days up to now."""
    settings = load_settings(
        write_config(tmp_path / "cfg", arxiv=refused_url, qiita=refused_url, zenn=refused_url)
    )
    now = datetime(2026, 1, 12, 3, 0, tzinfo=UTC)

    window = resolve_window(settings, None, None, None, now=now)

    assert Window(now - timedelta(days=7), now) == window


def test_from_without_to_runs_through_today(env, tmp_path, refused_url):
    """`--from D` alone covers whole local days from D through today (config timezone)."""
    settings = load_settings(
        write_config(tmp_path / "cfg", arxiv=refused_url, qiita=refused_url, zenn=refused_url)
    )
    now = datetime(2026, 1, 11, 16, 0, tzinfo=UTC)  # already 2026-01-12 in Tokyo

    window = resolve_window(settings, None, "2026-01-05", None, now=now)

    assert Window.between(date(2026, 1, 5), date(2026, 1, 12), "Asia/Tokyo") == window


def test_reversed_and_overlong_windows_are_refused_in_local_terms(env, tmp_path, refused_url):
    """--from after --to names the local dates and timezone; more than a year is refused, not labelled."""
    settings = load_settings(
        write_config(tmp_path / "cfg", arxiv=refused_url, qiita=refused_url, zenn=refused_url)
    )
    now = datetime(2026, 1, 11, 16, 0, tzinfo=UTC)
    messages = []
    for since, first, last in (
        (None, "2026-01-10", "2026-01-05"),
        ("400d", None, None),
        (None, "2026-02-01", None),
    ):
        with pytest.raises(ValueError) as raised:
            resolve_window(settings, since, first, last, now=now)
        messages.append(str(raised.value))
    assert [
        "--from 2026-01-10 is later than --to 2026-01-05 (Asia/Tokyo): swap them",
        "--since 400d is longer than a year: ask for at most 366 days at a time",
        "--from 2026-02-01 is after today (2026-01-12 in Asia/Tokyo): nothing has been published yet",
    ] == messages
    assert resolve_window(settings, "52w", None, None, now=now).start == now - timedelta(weeks=52)


def test_unsupported_database_url_is_one_line(env, tmp_path, refused_url):
    """DATABASE_URL=mysql://… : exit 2 with one line naming the supported schemes, no traceback."""
    use_config(env, tmp_path / "cfg", arxiv=refused_url, qiita=refused_url, zenn=refused_url)
    env.setenv("DATABASE_URL", "mysql://bot:hunter2@db.example/digest")
    result = run_fetch(*DAYS)
    lines = result.stderr.strip().splitlines()
    assert (2, 1, True, False) == (
        result.exit_code,
        len(lines),
        "scheme 'mysql' is not supported: use postgres://" in lines[-1],
        "hunter2" in result.output,
    ), result.output


# --- sources down ------------------------------------------------------------------------------------


def test_all_sources_down_exits_1_naming_each_source(env, tmp_path, refused_url):
    """With every endpoint refusing connections, the command exits 1 and names each failed source."""
    use_config(env, tmp_path / "cfg", arxiv=f"{refused_url}/api/query", qiita=refused_url, zenn=refused_url)

    result = run_fetch(*DAYS)

    failed = [name for name in ("arxiv", "qiita", "zenn") if f"fetch failed for {name}: " in result.stderr]
    expected = (1, ["arxiv", "qiita", "zenn"])
    assert expected == (result.exit_code, failed)
    assert "connection" in result.stderr.lower() or "unreachable" in result.stderr.lower()


# --- end to end against the fake servers ------------------------------------------------------------------


@pytest.fixture
def servers() -> Iterator[tuple[FakeArxivServer, FeedServer]]:
    entries = synthetic_entries(30, start=DATA_END - timedelta(days=4), end=DATA_END)
    with FakeArxivServer(entries) as arxiv, FeedServer() as feeds:
        feeds.publish_qiita(synthetic_qiita_items(12, end=DATA_END, days=4, tags=("LLM",)), tags=["LLM"])
        feeds.publish_zenn(synthetic_zenn_articles(8, end=DATA_END, days=4, topics=("llm",)), topics=["llm"])
        yield arxiv, feeds


def test_fetch_fills_the_store_and_a_second_fetch_adds_nothing(env, tmp_path, servers, store_url):
    """The first fetch stores every source's items; fetching the same window again adds 0 new."""
    arxiv, feeds = servers
    use_config(env, tmp_path / "cfg", arxiv=arxiv.url, qiita=feeds.base_url, zenn=feeds.base_url)
    env.setenv("DATABASE_URL", store_url)

    first = run_fetch(*DAYS)
    stored = stored_by_source(store_url)
    second = run_fetch(*DAYS)

    with ItemStore(store_url) as store:
        runs = store.recent_fetch_runs(6)
    expected = (0, 0, 30, 12)
    assert expected == (first.exit_code, second.exit_code, stored[SourceName.ARXIV], stored[SourceName.QIITA])
    assert stored[SourceName.ZENN] > 0  # a Zenn title repeating a Qiita title is stored as an alias instead
    assert sum(run.counts.new for run in runs[3:]) == sum(stored.values())
    expected_second = [0, 0, 0]
    assert expected_second == [run.counts.new for run in runs[:3]]
    assert all(name in first.stdout for name in ("arxiv", "qiita", "zenn", "duplicates"))


def test_one_source_down_still_stores_the_others_and_says_so(env, tmp_path, servers, refused_url):
    """Qiita refusing connections fails only Qiita: arXiv and Zenn are stored, exit 1 names Qiita and why."""
    arxiv, feeds = servers
    use_config(env, tmp_path / "cfg", arxiv=arxiv.url, qiita=refused_url, zenn=feeds.base_url)
    url = f"sqlite:///{tmp_path / 'data' / 'digestbot.sqlite'}"

    result = run_fetch(*DAYS)

    stored = stored_by_source(url)
    failed = [name for name in ("arxiv", "qiita", "zenn") if f"fetch failed for {name}: " in result.stderr]
    expected = (1, ["qiita"], 30, 0, True)
    assert expected == (
        result.exit_code,
        failed,
        stored[SourceName.ARXIV],
        stored[SourceName.QIITA],
        stored[SourceName.ZENN] > 0,
    )
    assert "fetch failed for qiita: all 1 tag feeds failed" in result.stderr
    assert "connection failed" in result.stderr
    assert "stored the others (arxiv, zenn)" in result.stderr


def test_source_option_limits_the_fetch(env, tmp_path, servers, refused_url):
    """`--source arxiv` fetches only arXiv (the others are not even contacted)."""
    arxiv, feeds = servers
    use_config(env, tmp_path / "cfg", arxiv=arxiv.url, qiita=feeds.base_url, zenn=feeds.base_url)

    result = run_fetch(*DAYS, "--source", "arxiv")

    expected = (0, [], True)
    assert expected == (result.exit_code, feeds.requests, len(arxiv.requests) > 0)
