"""Secrets never leave the process except to their own service: not in logs, errors, `config check`
output or anything written under the data dir, on the happy path and on every error path."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from digestbot.testing.slack_server import SlackServer
from reliability.harness import ARXIV_TITLES, DAYS, Stack, publish_recent, wait_until
from support.worker_env import Worker

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


LLM_KEY = SECRETS["DIGESTBOT_LLM_API_KEY"]
EVERY_TWO_SECONDS = '{ day_of_week = "*", hour = "*", minute = "*", second = "*/2" }'
ECHOES = {  # the provider's error quotes the key: (status, times served to the victim's summary)
    "400-bad-request": (400, 1),
    "403-permission": (403, 1),
    "500-server-error": (500, 3),  # retried: every attempt quotes it
}


@pytest.mark.parametrize("echo", list(ECHOES))
def test_a_provider_error_quoting_the_llm_key_is_scrubbed_from_output_logs_and_files(
    stack: Stack, caplog: pytest.LogCaptureFixture, echo: str
) -> None:
    """One summary's call answers 400/403/500 with the key in its message: the item is held back and the
    run posts the rest; the key is in no CLI output, log record, file (digest.json, latest.json, store)
    or Slack message (was: echoed in the held-back line and digest.json)."""
    status, times = ECHOES[echo]
    caplog.set_level(logging.DEBUG)
    stack.env.setenv("DIGESTBOT_LLM_API_KEY", LLM_KEY)
    stack.llm.fault("echo_key", status=status, times=times, match=("Blurb", ARXIV_TITLES[1]))

    result = stack.cli("run", *DAYS)

    held = [f["item_id"] for f in stack.latest()["stats"]["failures"]]
    output = result.stdout + result.stderr
    expected = (0, 1, 1, [], [], [], [], True)
    assert expected == (
        result.exit_code,
        len(held),
        len(stack.top_level()),
        leaks(output),
        leaks(caplog.text),
        written_leaks(stack.root),
        leaks("\n".join(stack.slack_payloads())),
        "***" in output,  # the provider's message is still shown, the key masked
    )


def test_an_llm_outage_quoting_the_key_is_scrubbed_from_the_run_error(stack: Stack) -> None:
    """Every call answers 500 quoting the key: `digestbot run` exits 1 with one line that names the
    provider error but not the key."""
    stack.env.setenv("DIGESTBOT_LLM_API_KEY", LLM_KEY)
    stack.llm.fault("echo_key", status=500, times=200)

    result = stack.cli("run", *DAYS)

    failed = [line for line in result.stderr.splitlines() if line.startswith("run failed:")]
    expected = (1, 1, [], True)
    assert expected == (result.exit_code, len(failed), leaks(result.output), "Incorrect API key" in failed[0])


def test_the_worker_never_logs_or_alerts_the_llm_key_a_provider_quotes(
    stack: Stack, start_worker: Callable[..., Worker]
) -> None:
    """`digestbot serve`: the weekly run fails on a 400 quoting the key; the admin alert and the serve
    log say why without the key (was: the key in both)."""
    stack.configure(extra=f'admin_channel = "#admin"\n\n[schedule]\nweekly_digest = {EVERY_TWO_SECONDS}\n')
    publish_recent(stack)
    stack.llm.fault("echo_key", status=400, times=500)
    worker = start_worker("worker", {"DIGESTBOT_LLM_API_KEY": LLM_KEY})

    wait_until(lambda: bool(admin_alerts(stack)), timeout=60, what="the admin alert of the failed run")
    worker.stop()

    alert = admin_alerts(stack)[0]
    expected = ([], [], True, True)
    assert expected == (
        leaks(alert),
        leaks(worker.output),
        "Incorrect API key provided: ***" in alert,
        "Incorrect API key provided: ***" in worker.output,
    )


def admin_alerts(stack: Stack) -> list[str]:
    posts = stack.slack.calls("chat.postMessage")
    return [str(r.body.get("text", "")) for r in posts if r.body.get("channel") == "#admin"]


def test_a_database_url_without_its_scheme_never_prints_its_password(stack: Stack) -> None:
    """`DATABASE_URL=user:password@host/db` (scheme forgotten): the error hides the password."""
    stack.env.setenv("DATABASE_URL", f"digest:{DB_PASSWORD}@127.0.0.1:9/nowhere")

    results = [stack.cli("fetch", *DAYS), stack.cli("run", *DAYS), stack.cli("config", "check")]

    captured = [r.stdout + r.stderr for r in results]
    expected = ([2, 1], [], True)  # fetch: a config problem (2); run: the store failed (1)
    assert expected == (
        [r.exit_code for r in results[:2]],
        leaks("\n".join(captured)),
        "digest:***@127.0.0.1" in captured[0],
    )
