"""`config check`: every problem a run would hit, one line each, found before the run (offline too)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digestbot.agents.providers import known_providers, model_problem
from digestbot.cli import app
from digestbot.config_check import check_config
from digestbot.testing.openai_server import OpenAIServer
from digestbot.testing.slack_server import SlackServer

ROOT = Path(__file__).resolve().parents[1]
SECRET_VARS = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "DIGESTBOT_LLM_API_KEY",
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of config/ and agents/, used through DIGESTBOT_CONFIG_DIR, with no secret set."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copytree(ROOT / "agents", tmp_path / "agents")
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(tmp_path / "config"))
    for name in (*SECRET_VARS, "DIGESTBOT_LLM_MODEL", "DIGESTBOT_LLM_BASE_URL", "DIGESTBOT_AGENTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("config error: ")]


def test_shipped_config_passes(project: Path) -> None:
    """The shipped config, prompts and offline mode pass; unset Slack tokens are warnings, not failures."""
    result = CliRunner().invoke(app, ["config", "check"])
    assert (0, [], True) == (
        result.exit_code,
        _errors(result.stderr),
        "warning: SLACK_BOT_TOKEN is unset" in result.stderr,
    ), result.stderr


def test_each_first_use_mistake_is_its_own_line(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken front matter, a non-UTF-8 prompt, `model = "gpt4"`: three lines, each naming its file."""
    _edit(project / "agents" / "judge.md", "batch_size: 8", "batch_size: [8")
    summarizer = project / "agents" / "summarizer.md"
    summarizer.write_bytes(
        summarizer.read_bytes().replace("紹介文".encode(), "紹介文".encode("shift_jis"), 1)
    )
    _edit(project / "config" / "digestbot.toml", 'model = ""', 'model = "gpt4"')
    result = CliRunner().invoke(app, ["config", "check"])
    errors = _errors(result.stderr)
    assert (2, 3, "") == (result.exit_code, len(errors), result.stdout), result.stderr
    assert ["summarizer.md", "judge.md", "digestbot.toml"] == [
        next(name for name in ("judge.md", "summarizer.md", "digestbot.toml") if name in line)
        for line in errors
    ]
    assert "not UTF-8" in errors[0]
    assert "'gpt4' is not \"provider:model\"" in errors[2]


def test_missing_key_for_the_configured_provider(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """openai:… without a key fails with the variables to set; with the key it passes."""
    monkeypatch.setenv("DIGESTBOT_LLM_MODEL", "openai:gpt-4o-mini")
    result = CliRunner().invoke(app, ["config", "check"])
    assert [
        "config error: llm.model 'openai:gpt-4o-mini' needs an API key: "
        "set DIGESTBOT_LLM_API_KEY or OPENAI_API_KEY (in .env)"
    ] == _errors(result.stderr)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert 0 == CliRunner().invoke(app, ["config", "check"]).exit_code


def test_a_local_server_needs_no_key(project: Path) -> None:
    """With base_url on this machine no key is asked for (local OpenAI-compatible servers ignore it)."""
    env = {"DIGESTBOT_LLM_MODEL": "openai:qwen", "DIGESTBOT_LLM_BASE_URL": "http://127.0.0.1:8000/v1"}
    report = check_config(env, project / "config")
    assert [] == report.errors


def test_a_template_error_the_loader_cannot_see_is_found_by_rendering(project: Path) -> None:
    """`{{ item.titel }}` parses, but rendering it with sample values under StrictUndefined fails."""
    _edit(project / "agents" / "summarizer.md", "{{ item.title }}", "{{ item.titel }}")
    errors = check_config({}, project / "config").errors
    assert 1 == len(errors) and "summarizer.md: render:" in errors[0] and "titel" in errors[0], errors


def test_variables_must_be_what_the_code_passes(project: Path) -> None:
    """A prompt that stops using `max_chars` would write blurbs of any length: it is reported."""
    path = project / "agents" / "summarizer.md"
    text = path.read_text(encoding="utf-8")
    _edit(path, "variables: [items, max_chars]", "variables: [items]")
    path.write_text(path.read_text(encoding="utf-8").replace("{{ max_chars }}", "120"), encoding="utf-8")
    assert "{{ max_chars }}" in text
    errors = check_config({}, project / "config").errors
    assert 1 == len(errors) and "'max_chars'" in errors[0] and "summarizer.md" in errors[0], errors


def test_a_one_item_summarizer_file_is_still_accepted(project: Path) -> None:
    """A summarizer written for one item per call (variables item, max_chars, feedback, previous) passes."""
    path = project / "agents" / "summarizer.md"
    path.write_text(
        "---\nname: summarizer\ndescription: one item\nbatch_size: 1\noutput: Blurb\n"
        "variables: [item, max_chars, feedback, previous]\n---\n## system\n{{ max_chars }}文字以内。\n"
        '## user\n{{ feedback }}{{ previous }}\n<item id="{{ item.id }}">{{ item.text }}</item>\n',
        encoding="utf-8",
    )
    assert [] == check_config({}, project / "config").errors


def test_model_strings() -> None:
    """Form, provider known to init_chat_model, and its package installed, each with its own message."""
    known = known_providers()
    assert {"openai", "anthropic", "ollama"} <= set(known)
    assert [None, "unknown provider 'opneai'", "needs the package langchain-anthropic"] == [
        model_problem("openai:gpt-4o-mini", known),
        (model_problem("opneai:gpt-4o-mini", known) or "").split(" (")[0],
        (model_problem("anthropic:claude-haiku-4-5", known) or "x needs the package langchain-anthropic")
        .split(", which")[0]
        .split("provider 'anthropic' ")[-1],
    ]


def test_an_agent_model_override_is_checked(project: Path) -> None:
    """`model: gpt4` in an agent file is reported against that file, even in offline mode."""
    _edit(project / "agents" / "judge.md", "model: null", "model: gpt4")
    errors = check_config({}, project / "config").errors
    assert 1 == len(errors) and "judge.md: model: 'gpt4'" in errors[0], errors


def test_swapped_slack_tokens(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An app token where the bot token goes (and the reverse) is one line each."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xapp-1-abc")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xoxb-123")
    result = CliRunner().invoke(app, ["config", "check"])
    errors = _errors(result.stderr)
    assert (2, 2, False) == (result.exit_code, len(errors), "xoxb-123" in result.output), result.stderr


def test_online_calls_slack_and_the_llm_once(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--online: auth.test, apps.connections.open and one completion against the local servers."""
    with SlackServer() as slack, OpenAIServer(lambda request: "OK") as llm:
        monkeypatch.setenv("DIGESTBOT_SLACK_API_URL", slack.api_url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
        monkeypatch.setenv("SLACK_APP_TOKEN", slack.app_token)
        monkeypatch.setenv("DIGESTBOT_LLM_MODEL", "openai:gpt-4o-mini")
        monkeypatch.setenv("DIGESTBOT_LLM_BASE_URL", llm.base_url)
        result = CliRunner().invoke(app, ["config", "check", "--online"])
        calls = (
            len(slack.calls("auth.test")),
            len(slack.calls("apps.connections.open")),
            len(llm.completions),
        )
    assert (0, (1, 1, 1)) == (result.exit_code, calls), result.stderr
    assert "Slack bot token OK" in result.stderr and "LLM OK" in result.stderr


def test_online_reports_a_refused_token_and_a_failing_llm(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong bot token (invalid_auth) and an LLM answering 500: one line each, exit 2."""
    with SlackServer() as slack, OpenAIServer(lambda request: "OK") as llm:
        llm.fault("server_error", times=5)
        monkeypatch.setenv("DIGESTBOT_SLACK_API_URL", slack.api_url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong")
        monkeypatch.setenv("DIGESTBOT_LLM_MODEL", "openai:gpt-4o-mini")
        monkeypatch.setenv("DIGESTBOT_LLM_BASE_URL", llm.base_url)
        result = CliRunner().invoke(app, ["config", "check", "--online"])
    errors = _errors(result.stderr)
    assert (2, 2) == (result.exit_code, len(errors)), result.stderr
    assert "SLACK_BOT_TOKEN: Slack auth.test refused it (invalid_auth)" in errors[0]
    assert "one test request failed" in errors[1] and "xoxb-wrong" not in result.output
