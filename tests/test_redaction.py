"""The secret scrubber: every known value masked in text, log records and uncaught tracebacks."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from digestbot import redaction
from digestbot.redaction import Scrubber, install, url_password
from digestbot.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def installed() -> Iterator[None]:
    """Install a scrubber for one test, then put the process back as it was."""
    factory, hook = logging.getLogRecordFactory(), sys.excepthook
    install(Scrubber.of(["sk-log-secret-42"]))
    yield
    install(Scrubber())
    logging.setLogRecordFactory(factory)
    sys.excepthook = hook


def test_every_form_of_a_secret_is_masked() -> None:
    """The value, its bare token after `Bearer `, its URL-encoded form; short values are left alone."""
    scrub = Scrubber.of(["Bearer tok/en+123", None, "", "abc"])
    text = "Bearer tok/en+123 · tok/en+123 · tok%2Fen%2B123 · abc"
    assert "*** · *** · *** · abc" == scrub(text)


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql://digest:pw-secret@db:5432/x", "pw-secret"),
        ("digest:pw-secret@db:5432/x", "pw-secret"),  # the scheme forgotten
        ("postgres://digest@db/x", None),
        ("sqlite:///data/digestbot.sqlite", None),
    ],
)
def test_the_password_of_a_store_url_is_found_with_or_without_a_scheme(
    url: str, password: str | None
) -> None:
    """`user:password@host`: the password, even when `postgresql://` is missing."""
    assert password == url_password(url)


def test_settings_scrub_every_secret_and_the_store_password(tmp_path: Path) -> None:
    """`Settings.scrubber` knows the Slack tokens, the LLM and Qiita keys and the DATABASE_URL password."""
    env = {
        "DIGESTBOT_CONFIG_DIR": str(ROOT / "config"),
        "SLACK_BOT_TOKEN": "xoxb-bot-111111",
        "SLACK_APP_TOKEN": "xapp-app-222222",
        "SLACK_SIGNING_SECRET": "signing-333333",
        "DIGESTBOT_LLM_API_KEY": "sk-llm-444444",
        "QIITA_TOKEN": "qiita-555555",
        "DATABASE_URL": "postgresql://digest:db-pass-666666@db/x",
    }
    scrub = load_settings(ROOT / "config", env, env_file=tmp_path / "none").scrubber
    text = " ".join(v for k, v in env.items() if k != "DIGESTBOT_CONFIG_DIR")
    assert "*** *** *** *** *** postgresql://digest:***@db/x" == scrub(text)


@pytest.mark.usefixtures("installed")
def test_log_records_are_scrubbed_in_message_arguments_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After `install`, a secret in a log message, its arguments or its exception reaches no handler."""
    log = logging.getLogger("digestbot.test")
    with caplog.at_level(logging.INFO):
        log.info("key sk-log-secret-42 and %s", "arg sk-log-secret-42")
        try:
            raise RuntimeError("provider said sk-log-secret-42")
        except RuntimeError:
            log.exception("failed")
    expected = (False, True, True)
    assert expected == (
        "sk-log-secret-42" in caplog.text,
        "key *** and arg ***" in caplog.text,
        "RuntimeError: provider said ***" in caplog.text,
    )


@pytest.mark.usefixtures("installed")
def test_an_uncaught_traceback_is_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    """The excepthook prints the traceback with the secret masked."""
    try:
        raise ValueError("echoed sk-log-secret-42")
    except ValueError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    err = capsys.readouterr().err
    assert (True, False) == ("ValueError: echoed ***" in err, "sk-log-secret-42" in err)


def test_before_install_nothing_is_changed() -> None:
    """The default scrubber has no values: text passes unchanged."""
    assert "sk-log-secret-42" == redaction.Scrubber()("sk-log-secret-42")
