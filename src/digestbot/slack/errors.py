"""`SlackDeliveryError`: one line that says what went wrong and what the user should do."""

from __future__ import annotations

from typing import Any

RESEND = "`digestbot post --last`"

_CREDENTIALS = (
    "Slack rejected the bot token ({code}): set SLACK_BOT_TOKEN to the app's Bot User OAuth Token "
    "(xoxb-…), reinstalling the app if it was removed"
)
_LAYOUT = (
    "Slack rejected the digest's layout ({code}{detail}): this is a digestbot bug, please report it "
    "with the saved digest; nothing was posted for this message"
)
_RATE = "Slack is rate-limiting the bot ({code}{detail}): wait a few minutes, then run " + RESEND
_SERVER = "Slack had a server problem ({code}{detail}): try again later with " + RESEND
_RESTRICTED = (
    "posting to {channel} is blocked by a workspace or channel setting ({code}): ask a workspace "
    "admin to allow the bot there, or set another [slack] channel"
)

FIXES: dict[str, str] = {
    "no_token": "SLACK_BOT_TOKEN is not set: put the bot token (xoxb-…) in the environment or in .env",
    "not_authed": "no bot token reached Slack (not_authed): set SLACK_BOT_TOKEN in the environment or .env",
    "invalid_auth": _CREDENTIALS,
    "token_revoked": _CREDENTIALS,
    "token_expired": _CREDENTIALS,
    "account_inactive": _CREDENTIALS,
    "not_allowed_token_type": _CREDENTIALS,
    "channel_not_found": (
        "Slack channel {channel} was not found (channel_not_found): check [slack] channel in "
        "config/digestbot.toml (or DIGESTBOT_SLACK_CHANNEL); for a private channel use its ID (C…)"
    ),
    "not_in_channel": (
        "the bot is not a member of {channel} (not_in_channel): invite the bot to {channel} "
        "(type `/invite @<bot name>` there), then run " + RESEND
    ),
    "is_archived": "{channel} is archived (is_archived): unarchive it or set another [slack] channel",
    "missing_scope": (
        "the bot token lacks a permission ({code}{detail}): add the scope under OAuth & Permissions, "
        "reinstall the app, then run " + RESEND
    ),
    "restricted_action": _RESTRICTED,
    "restricted_action_read_only_channel": _RESTRICTED,
    "restricted_action_thread_only_channel": _RESTRICTED,
    "ekm_access_denied": _RESTRICTED,
    "invalid_blocks": _LAYOUT,
    "invalid_blocks_format": _LAYOUT,
    "msg_too_long": _LAYOUT,
    "msg_blocks_too_long": _LAYOUT,
    "no_text": _LAYOUT,
    "invalid_metadata_format": _LAYOUT,
    "invalid_metadata_schema": _LAYOUT,
    "metadata_too_large": _LAYOUT,
    "ratelimited": _RATE,
    "rate_limited": _RATE,
    "message_limit_exceeded": _RATE,
    "server_error": _SERVER,
    "service_unavailable": _SERVER,
    "fatal_error": _SERVER,
    "request_timeout": _SERVER,
    "internal_error": _SERVER,
    "connection_error": (
        "cannot reach Slack at {api_url}{detail}: check the network and [slack] api_url "
        "(DIGESTBOT_SLACK_API_URL), then run " + RESEND
    ),
    "channel_lookup": (
        "cannot look in {channel} for this digest posted before{detail}: set [slack] channel to the "
        "channel's ID (C…) or give the bot the channels:read scope, then run " + RESEND
    ),
}


class SlackDeliveryError(Exception):
    """Delivery to Slack failed. `str(error)` is the one-line explanation with the fix."""

    def __init__(self, message: str, *, code: str, maybe_posted: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.maybe_posted = maybe_posted  # the request may have reached Slack before the failure


def explain(code: str, *, channel: str = "", api_url: str = "", detail: str = "") -> str:
    """The user-facing line for a Slack error code."""
    template = FIXES.get(code)
    if template is None:
        return (
            f"Slack answered {code}{detail} for {channel or 'the request'}: see Slack's error list for {code}"
        )
    return template.format(code=code, channel=channel, api_url=api_url, detail=detail)


def delivery_error(
    code: str, *, channel: str = "", api_url: str = "", detail: str = "", maybe_posted: bool = False
) -> SlackDeliveryError:
    message = explain(code, channel=channel, api_url=api_url, detail=detail)
    return SlackDeliveryError(message, code=code, maybe_posted=maybe_posted)


def api_error_detail(data: Any) -> str:
    """`: [ERROR] … [json-pointer:/blocks/3/text/text]` or `: needs chat:write` from an error body."""
    if not isinstance(data, dict):
        return ""
    messages = (data.get("response_metadata") or {}).get("messages") or data.get("errors") or []
    if messages:
        return f": {messages[0]}"
    if data.get("needed"):
        return f": needs {data['needed']}"
    return ""
