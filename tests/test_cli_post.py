"""`digestbot post --last`: sends the saved digest once, refuses a repeat, reports failures with the fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digestbot.cli import app
from digestbot.digest_json import save_latest
from digestbot.settings import load_settings
from digestbot.testing.slack_server import SlackServer
from support.sample_digest import representative_digest

CONFIG = Path(__file__).resolve().parents[1] / "config"


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: SlackServer) -> Path:
    """An empty working directory whose config points at the local Slack server."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(CONFIG))
    monkeypatch.setenv("DIGESTBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'data' / 'store.sqlite'}")
    monkeypatch.setenv("DIGESTBOT_SLACK_API_URL", slack.api_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
    return tmp_path


def save_digest() -> Path:
    return save_latest(representative_digest(), load_settings())


def test_post_last_sends_the_saved_digest(workdir: Path, slack: SlackServer) -> None:
    """Exit 0, one message in the channel, the permalink printed."""
    save_digest()
    result = CliRunner().invoke(app, ["post", "--last"])
    assert (result.exit_code, len(slack.messages("C0DIGEST01"))) == (0, 1)
    assert "posted the 2026-11-16..2026-11-22 digest (1 message(s)): http://127.0.0.1:" in result.output


def test_post_last_twice_refuses_and_force_updates(workdir: Path, slack: SlackServer) -> None:
    """The repeat exits 3 without posting; --force edits the message in place."""
    save_digest()
    runner = CliRunner()
    runner.invoke(app, ["post", "--last"])
    again = runner.invoke(app, ["post", "--last"])
    forced = runner.invoke(app, ["post", "--last", "--force"])
    assert (again.exit_code, forced.exit_code) == (3, 0)
    assert "run again with --force" in again.output
    assert (len(slack.calls("chat.postMessage")), len(slack.calls("chat.update"))) == (1, 1)


def test_post_to_another_channel(workdir: Path, slack: SlackServer) -> None:
    """--channel overrides the configured channel."""
    save_digest()
    result = CliRunner().invoke(app, ["post", "--last", "--channel", "#random"])
    assert (result.exit_code, len(slack.messages("C0RANDOM02"))) == (0, 1)


def test_slack_failure_exits_1_naming_the_fix_and_keeping_the_digest(
    workdir: Path, slack: SlackServer
) -> None:
    """not_in_channel: exit 1, the invite advice, and where the digest is kept."""
    path = save_digest()
    slack.fault("error", method="chat.postMessage", error="not_in_channel")
    result = CliRunner().invoke(app, ["post", "--last"])
    assert result.exit_code == 1
    assert "invite the bot to #llm-digest" in result.output
    assert f"the digest is kept in {path}" in result.output
    assert CliRunner().invoke(app, ["post", "--last"]).exit_code == 0


def test_without_a_saved_digest_exits_1_saying_what_to_run(workdir: Path) -> None:
    """No latest.json: the message names `digestbot run`."""
    result = CliRunner().invoke(app, ["post", "--last"])
    assert (result.exit_code, "run `digestbot run`" in result.output) == (1, True)


def test_post_needs_last_or_a_digest_file(workdir: Path) -> None:
    """Bare `post` exits 2 and says which options exist."""
    result = CliRunner().invoke(app, ["post"])
    assert (result.exit_code, "--last" in result.output) == (2, True)


def test_missing_token_exits_1_naming_the_variable(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without SLACK_BOT_TOKEN nothing is sent and the variable is named."""
    save_digest()
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    result = CliRunner().invoke(app, ["post", "--last"])
    assert (result.exit_code, "SLACK_BOT_TOKEN is not set" in result.output) == (1, True)
