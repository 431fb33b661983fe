"""Tuning without restarts: fresh config per run; an invalid edit is reported and the last valid one kept."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from digestbot.agents.spec import load_agents
from digestbot.config_reload import ConfigHolder, post_admin_message
from digestbot.settings import ConfigError, Settings, load_settings
from digestbot.testing.slack_server import SlackServer
from support.worker_env import worker_environ, write_config

ROOT = Path(__file__).resolve().parents[1]
RANDOM_ID = "C0RANDOM02"


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "config", ROOT / "config" / "categories.toml", slack={"admin_channel": "#random"}
    )


@pytest.fixture
def loader(folder: Path, slack: SlackServer, tmp_path: Path) -> Callable[[], Settings]:
    env = worker_environ(folder, tmp_path / "data", "sqlite://", slack.api_url, bot_token=slack.token)
    env["DIGESTBOT_AGENTS_DIR"] = str(tmp_path / "agents")
    shutil.copytree(ROOT / "agents", tmp_path / "agents")
    return lambda: load_settings(folder, env, env_file=tmp_path / "no.env")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_each_call_reads_the_files_again(folder: Path, loader: Callable[[], Settings]) -> None:
    """An edit to digestbot.toml shows in the next `current()` without a restart."""
    holder = ConfigHolder(loader)
    before = holder.current().app.slack.channel
    edit(folder / "digestbot.toml", 'channel = "#llm-digest"', 'channel = "#ml-news"')
    assert ("#llm-digest", "#ml-news", None) == (before, holder.current().app.slack.channel, holder.error)


def test_invalid_edit_keeps_the_last_valid_config_and_tells_the_admin_once(
    folder: Path, loader: Callable[[], Settings], slack: SlackServer
) -> None:
    """A typo is logged and posted to the admin channel once; runs keep the last valid settings."""
    holder = ConfigHolder(loader, notify=post_admin_message)
    valid = holder.current()
    edit(folder / "digestbot.toml", "min_seconds_between_posts = 0", "min_seconds_between_post = 0")
    during = [holder.current(), holder.current()]
    admin = slack.messages(RANDOM_ID)
    assert ([valid, valid], 1) == (during, len(admin))
    assert holder.error is not None and "slack.min_seconds_between_post: unknown key" in holder.error
    assert "前回の有効な設定" in admin[0]["text"] and "min_seconds_between_post" in admin[0]["text"]


def test_fixing_the_edit_takes_effect(folder: Path, loader: Callable[[], Settings]) -> None:
    """After the problem is fixed the new values are used and the error clears."""
    holder = ConfigHolder(loader)
    holder.current()
    edit(folder / "digestbot.toml", 'channel = "#llm-digest"', "channel = ")
    broken = holder.current().app.slack.channel
    edit(folder / "digestbot.toml", "channel = ", 'channel = "#ml-news"')
    assert ("#llm-digest", "#ml-news", None) == (broken, holder.current().app.slack.channel, holder.error)


def test_weekday_digits_in_the_schedule_count_as_an_invalid_edit(
    folder: Path, loader: Callable[[], Settings]
) -> None:
    """`day_of_week = "1"` would fire on Tuesday; it is refused and Monday stays in force."""
    holder = ConfigHolder(loader)
    holder.current()
    edit(folder / "digestbot.toml", 'day_of_week = "mon"', 'day_of_week = "1"')
    kept = holder.current().app.schedule.weekly_digest.day_of_week
    assert holder.error is not None
    assert ("mon", True) == (kept, holder.error.startswith("schedule.weekly_digest.day_of_week"))


def test_first_load_must_be_valid(folder: Path, loader: Callable[[], Settings]) -> None:
    """With no valid configuration to fall back on, the problem is raised (serve exits with it)."""
    edit(folder / "digestbot.toml", "[slack]", "[slak]")
    with pytest.raises(ConfigError):
        ConfigHolder(loader).current()


def test_llm_mode_pins_a_snapshot_of_the_valid_agent_files(
    folder: Path, loader: Callable[[], Settings], tmp_path: Path
) -> None:
    """A broken prompt edit does not reach runs: they read the last valid agent files from a snapshot."""
    edit(folder / "digestbot.toml", "[slack]", '[llm]\nmodel = "openai:gpt-4o-mini"\n\n[slack]')
    holder = ConfigHolder(loader, snapshot_dir=tmp_path / "snapshots")
    valid = holder.current()
    hashes = {name: spec.prompt_hash for name, spec in load_agents(valid.agents_dir).items()}
    edit(tmp_path / "agents" / "judge.md", "---", "---\nunknown_key: 1")
    kept = holder.current()
    assert holder.error is not None and "judge.md" in holder.error
    assert (valid.agents_dir, hashes) == (
        kept.agents_dir,
        {name: spec.prompt_hash for name, spec in load_agents(kept.agents_dir).items()},
    )
    assert kept.agents_dir.parent == tmp_path / "snapshots"


def test_admin_message_needs_an_admin_channel(loader: Callable[[], Settings], slack: SlackServer) -> None:
    """No `[slack] admin_channel`: nothing is sent (and nothing raises)."""
    settings = loader()
    app = settings.app.model_copy(
        update={"slack": settings.app.slack.model_copy(update={"admin_channel": ""})}
    )
    assert (False, []) == (post_admin_message(settings.model_copy(update={"app": app}), "x"), slack.requests)


def test_an_admin_alert_never_carries_a_secret_value(
    folder: Path, slack: SlackServer, tmp_path: Path
) -> None:
    """An alert quoting the bot token or the LLM key (a provider's words) reaches Slack with `***`."""
    env = worker_environ(folder, tmp_path / "data", "sqlite://", slack.api_url, bot_token=slack.token)
    settings = load_settings(
        folder, env | {"DIGESTBOT_LLM_API_KEY": "sk-alert-key-123"}, env_file=tmp_path / "x"
    )

    sent = post_admin_message(settings, f"failed: Incorrect API key sk-alert-key-123 (token {slack.token})")

    text = slack.messages(RANDOM_ID)[0]["text"]
    assert (True, "failed: Incorrect API key *** (token ***)") == (sent, text)
