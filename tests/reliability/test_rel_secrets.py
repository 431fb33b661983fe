"""Secrets never leave the process except to their own service: not in logs, errors, `config check`
output or anything written under the data dir, on the happy path and on every error path."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from digestbot.testing.slack_server import SlackServer
from reliability.harness import DAYS, Stack

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-SECRETslack-1111",
    "SLACK_APP_TOKEN": "xapp-SECRETapp-2222",
    "SLACK_SIGNING_SECRET": "SECRETsigning3333",
    "DIGESTBOT_LLM_API_KEY": "sk-SECRETllm-4444",
    "OPENAI_API_KEY": "sk-SECRETopenai-5555",
    "ANTHROPIC_API_KEY": "sk-ant-SECRETanthropic-6666",
    "QIITA_TOKEN": "SECRETqiita7777",
}
DB_PASSWORD = "SECRETdbpass8888"


def leaks(text: str) -> list[str]:
    return [value for value in [*SECRETS.values(), DB_PASSWORD] if value in text]


def written_leaks(folder: Path) -> list[str]:
    """Secrets found in any file under `folder` (bytes, so the SQLite store and its WAL count too)."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {v}" for v in [*SECRETS.values(), DB_PASSWORD] if v.encode() in data]
    return found


def test_tokens_never_reach_logs_output_errors_or_files(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """fetch, run (with a Qiita 401 and a Slack failure), post --last and config check at DEBUG level:
    no token or key appears in any captured text or in any file written."""
    caplog.set_level(logging.DEBUG)
    for name, value in SECRETS.items():
        stack.env.setenv(name, value)
    with SlackServer(token=SECRETS["SLACK_BOT_TOKEN"]) as slack:
        stack.configure(slack_url=slack.api_url)
        slack.fault("error", method="chat.postMessage", error="not_in_channel")
        results = [
            stack.cli("fetch", *DAYS),  # the Qiita API answers 401 to this token: an error path
            stack.cli("run", *DAYS),  # Slack refuses the post: an error path
            stack.cli("post", "--last"),
            stack.cli("config", "check"),
        ]
        posted = len(slack.calls("chat.postMessage"))
    stack.env.setenv("DATABASE_URL", f"postgresql://digest:{DB_PASSWORD}@127.0.0.1:9/nowhere")
    results.append(stack.cli("config", "check"))
    results.append(stack.cli("fetch", *DAYS))  # the database is unreachable: an error path

    captured = [r.stdout + r.stderr + repr(r.exception) for r in results]
    expected = ([0, 1, 0, 0, 0, 1], 2, [], [], [])
    assert expected == (
        [r.exit_code for r in results],
        posted,
        leaks("\n".join(captured)),
        leaks(caplog.text),
        written_leaks(stack.root),
    )
    assert "HTTP 401" in results[0].stdout  # the Qiita error path ran
    assert "set (redacted)" in results[3].stdout and "digest:***@127.0.0.1" in results[4].stdout


def test_an_invalid_token_error_names_the_variable_not_its_value(stack: Stack) -> None:
    """Slack's invalid_auth says which variable to fix and never echoes the token."""
    stack.env.setenv("SLACK_BOT_TOKEN", SECRETS["SLACK_BOT_TOKEN"])

    result = stack.cli("run", *DAYS)

    expected = (1, True, [])
    assert expected == (result.exit_code, "set SLACK_BOT_TOKEN" in result.stderr, leaks(result.output))
