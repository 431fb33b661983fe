"""The online half of `config check --online`, also used by `serve` at start: do the tokens and the
model endpoint work? One request each: Slack `auth.test` (bot token), `apps.connections.open`
(app token), and one tiny chat completion.

A refused token is an `error` (the worker must not start as "ready" with it); an unreachable
service is a `warning` (Slack or the provider may be down for a minute; `serve` starts anyway and
retries, as it always did).
"""

from __future__ import annotations

from dataclasses import dataclass

from digestbot.config_check import Finding
from digestbot.settings import ConfigError, Settings, redact_url

TIMEOUT_SECONDS = 10
_TOKEN_HINTS = {
    "invalid_auth": "the token is wrong or was revoked",
    "not_authed": "no token was sent",
    "token_revoked": "the token was revoked: reinstall the app and copy the new token",
    "account_inactive": "the app was uninstalled or its workspace is inactive",
    "not_allowed_token_type": "this kind of token is not accepted here (bot and app tokens swapped?)",
}


@dataclass(frozen=True)
class Checked:
    """A finding, or what the service said about itself when all is well (`ok`)."""

    finding: Finding | None
    ok: str = ""


def _slack_failure(env: str, method: str, exc: Exception, api_url: str) -> Finding:
    from slack_sdk.errors import SlackApiError

    if isinstance(exc, SlackApiError):
        code = str(exc.response.get("error", "") or f"HTTP {exc.response.status_code}")
        hint = _TOKEN_HINTS.get(code)
        if hint is not None:
            return Finding("error", f"{env}: Slack {method} refused it ({code}): {hint}")
        return Finding("warning", f"{env}: Slack {method} answered {code} ({api_url})")
    return Finding("warning", f"{env}: Slack API at {api_url} is unreachable ({type(exc).__name__}: {exc})")


def check_bot_token(settings: Settings) -> Checked:
    """auth.test with SLACK_BOT_TOKEN (nothing to check when it is unset)."""
    from slack_sdk import WebClient

    token = settings.secrets.slack_bot_token
    if token is None:
        return Checked(None)
    api_url = settings.app.slack.api_url
    client = WebClient(token=token.get_secret_value(), base_url=api_url, timeout=TIMEOUT_SECONDS)
    try:
        data = client.auth_test().data
    except Exception as exc:  # any failure of the one request becomes its line
        return Checked(_slack_failure("SLACK_BOT_TOKEN", "auth.test", exc, api_url))
    info = data if isinstance(data, dict) else {}
    return Checked(None, f"Slack bot token OK: @{info.get('user', '?')} in {info.get('team', '?')}")


def check_app_token(settings: Settings) -> Checked:
    """apps.connections.open with SLACK_APP_TOKEN (what Socket Mode does first)."""
    from slack_sdk import WebClient

    token = settings.secrets.slack_app_token
    if token is None:
        return Checked(None)
    api_url = settings.app.slack.api_url
    client = WebClient(base_url=api_url, timeout=TIMEOUT_SECONDS)
    try:
        client.apps_connections_open(app_token=token.get_secret_value())
    except Exception as exc:  # any failure of the one request becomes its line
        return Checked(_slack_failure("SLACK_APP_TOKEN", "apps.connections.open", exc, api_url))
    return Checked(None, "Slack app token OK: Socket Mode connections can be opened")


def check_llm(settings: Settings) -> Checked:
    """One minimal chat completion through the configured model (nothing to do offline)."""
    if settings.offline:
        return Checked(None, "LLM: offline mode, no endpoint to call")
    from digestbot.agents.llm import build_chat_model
    from digestbot.agents.llm_output import one_line

    llm = settings.app.llm
    where = redact_url(llm.base_url) if llm.base_url else "the provider's API"
    try:
        model = build_chat_model(llm.model_copy(update={"max_retries": 0}), settings.secrets)
        model.invoke("Reply with the single word OK.", max_tokens=5)
    except ConfigError as exc:
        return Checked(Finding("error", str(exc)))
    except Exception as exc:  # the provider's error, on one line
        text = one_line(f"{type(exc).__name__}: {exc}")[:300]
        return Checked(
            Finding("error", f"llm.model {llm.model!r} at {where}: one test request failed: {text}")
        )
    return Checked(None, f"LLM OK: {llm.model} answered at {where}")
