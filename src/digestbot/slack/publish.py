"""Post rendered digests with slack-sdk's `WebClient`: retries at I/O, pacing, readable errors.

* Retries at I/O only (see `retry.py`): 429 after Retry-After, connection errors and 5xx with backoff,
  but never a post that may already have reached Slack; the caller reconciles instead (`history.find_digest`).
* At least `min_seconds_between_posts` between two posts or updates in one channel.
* `unfurl_links`/`unfurl_media` off; `link_names` and `parse` are never sent.
"""

from __future__ import annotations

import http.client
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from digestbot.settings import Settings, SlackConfig
from digestbot.slack.errors import SlackDeliveryError, api_error_detail, delivery_error
from digestbot.slack.render import SlackMessage
from digestbot.slack.retry import POSTING, Clock, Sleep, never_sent, retry_handlers

EVENT_TYPE = "digestbot_digest"  # chat.postMessage `metadata` marker, matched when reconciling
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


def is_channel_id(channel: str) -> bool:
    return bool(_CHANNEL_ID.match(channel))


@dataclass(frozen=True)
class Posted:
    channel_id: str
    ts: str


def marker(period: str, part: int, parts: int) -> dict[str, Any]:
    return {"event_type": EVENT_TYPE, "event_payload": {"period": period, "part": part, "parts": parts}}


class SlackPublisher:
    """Posts, updates and finds digest messages in one workspace.

    A `client` passed in (tests, Bolt apps) gets our retry handlers installed.
    """

    def __init__(
        self,
        config: SlackConfig,
        token: str | None,
        *,
        client: WebClient | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        max_retries: int = 3,
        max_retry_after: float = 120.0,
    ) -> None:
        if client is None and not token:
            raise delivery_error("no_token")
        self.config = config
        self.client = client or WebClient(token=token, base_url=config.api_url, timeout=30)
        self.client.retry_handlers = retry_handlers(
            sleep, max_retries=max_retries, max_retry_after=max_retry_after
        )
        self._sleep, self._clock = sleep, clock
        self._last_post: dict[str, float] = {}
        self._ids: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> SlackPublisher:
        """A publisher for `[slack]` with SLACK_BOT_TOKEN (raises SlackDeliveryError when unset)."""
        secret = settings.secrets.slack_bot_token
        token = secret.get_secret_value() if secret is not None else None
        options.setdefault("max_retry_after", settings.app.http.max_retry_after_seconds)
        return cls(settings.app.slack, token, **options)

    # --- raw calls ----------------------------------------------------------------------------

    def _call(self, method: str, channel: str, call: Callable[[], SlackResponse]) -> SlackResponse:
        try:
            return call()
        except SlackApiError as exc:
            status = exc.response.status_code
            data = exc.response.data
            code = data.get("error", "") if isinstance(data, dict) else ""
            if status == 429:
                code = "ratelimited"
                wait = exc.response.headers.get("retry-after") or exc.response.headers.get("Retry-After")
                detail = f", retry after {wait} s" if wait else ""
            elif status >= 500 or not code or code.startswith("Received a response in a non-JSON"):
                code, detail = "server_error", f", HTTP {status}"
            else:
                detail = api_error_detail(data)
            maybe = method in POSTING and status == 500
            raise delivery_error(code, channel=channel, detail=detail, maybe_posted=maybe) from None
        except (URLError, OSError, http.client.HTTPException, SlackClientError) as exc:
            reason = exc.reason if isinstance(exc, URLError) else exc
            maybe = method in POSTING and not never_sent(exc)
            detail = f" ({type(reason).__name__}: {reason})" if str(reason) else f" ({type(reason).__name__})"
            raise delivery_error(
                "connection_error",
                channel=channel,
                api_url=self.config.api_url,
                detail=detail,
                maybe_posted=maybe,
            ) from None

    def request(self, method: str, channel: str, call: Callable[[], SlackResponse]) -> SlackResponse:
        """One Web API call with our errors (for readers such as `history.find_digest`)."""
        return self._call(method, channel, call)

    def _pace(self, channel: str) -> None:
        key = self._ids.get(channel, channel)
        last = self._last_post.get(key)
        if last is not None:
            remaining = last + self.config.min_seconds_between_posts - self._clock()
            if remaining > 0:
                self._sleep(remaining)

    def _posted(self, channel: str, response: SlackResponse) -> Posted:
        channel_id, ts = str(response["channel"]), str(response["ts"])
        self._ids[channel] = channel_id
        self._last_post[channel_id] = self._clock()
        return Posted(channel_id, ts)

    def auth_test(self) -> dict[str, Any]:
        response = self._call("auth.test", "", self.client.auth_test)
        return dict(response.data) if isinstance(response.data, dict) else {}

    def post(
        self,
        channel: str,
        message: SlackMessage,
        *,
        thread_ts: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Posted:
        """chat.postMessage (a thread reply when `thread_ts` is given)."""
        self._pace(channel)
        response = self._call(
            "chat.postMessage",
            channel,
            lambda: self.client.chat_postMessage(
                channel=channel,
                text=message["text"],
                blocks=message["blocks"],
                thread_ts=thread_ts,
                metadata=meta,
                unfurl_links=False,
                unfurl_media=False,
            ),
        )
        return self._posted(channel, response)

    def update(
        self, channel_id: str, ts: str, message: SlackMessage, *, meta: dict[str, Any] | None = None
    ) -> Posted:
        """chat.update of a message we posted."""
        self._pace(channel_id)
        response = self._call(
            "chat.update",
            channel_id,
            lambda: self.client.chat_update(
                channel=channel_id, ts=ts, text=message["text"], blocks=message["blocks"], metadata=meta
            ),
        )
        return self._posted(channel_id, response)

    def upload(
        self, channel_id: str, content: bytes, *, filename: str, title: str, alt_text: str, thread_ts: str
    ) -> str:
        """files_upload_v2 into a thread (needs the files:write scope); returns the file id."""
        self._pace(channel_id)
        response = self._call(
            "files.completeUploadExternal",
            channel_id,
            lambda: self.client.files_upload_v2(
                channel=channel_id,
                content=content,
                filename=filename,
                title=title,
                alt_txt=alt_text,
                thread_ts=thread_ts,
            ),
        )
        self._last_post[channel_id] = self._clock()
        return str((response.get("file") or {}).get("id") or "")

    def permalink(self, channel_id: str, ts: str) -> str | None:
        """The message's permalink, or None when Slack does not give one (never fatal)."""
        try:
            response = self._call(
                "chat.getPermalink",
                channel_id,
                lambda: self.client.chat_getPermalink(channel=channel_id, message_ts=ts),
            )
        except SlackDeliveryError:
            return None
        return str(response.get("permalink") or "") or None

    # --- digests -----------------------------------------------------------------------------

    def publish(
        self,
        channel: str,
        messages: Sequence[SlackMessage],
        *,
        period: str,
        existing: Sequence[str] = (),
        channel_id: str | None = None,
        update_existing: bool = True,
        progress: Callable[[Posted, list[str]], None] | None = None,
    ) -> list[str]:
        """Post each part: the first top-level, the rest in its thread; parts in `existing` are edited.

        With `update_existing=False` the parts already in Slack are left as they are (the same
        digest, adopted after a crash). Existing parts beyond `messages` are blanked to a short note.
        `progress` is called after each message so the caller can record it. Returns every ts.
        """
        timestamps = list(existing) if channel_id else []
        total = len(messages)
        for part, message in enumerate(messages, start=1):
            meta = marker(period, part, total)
            posted = None
            if part <= len(timestamps) and channel_id and not update_existing:
                continue
            if part <= len(timestamps) and channel_id:
                posted = self._update_or_none(channel_id, timestamps[part - 1], message, meta)
                if posted is None and part == 1:  # the parent is gone: start a new thread
                    timestamps = []
            if posted is None:
                thread = timestamps[0] if timestamps else None
                posted = self.post(channel_id or channel, message, thread_ts=thread, meta=meta)
                timestamps[part - 1 : part] = [posted.ts]
            channel_id = posted.channel_id
            if progress is not None:
                progress(posted, list(timestamps))
        for ts in timestamps[total:]:
            if channel_id is not None and update_existing:
                self._update_or_none(channel_id, ts, _SUPERSEDED, None)
        return timestamps

    def _update_or_none(
        self, channel_id: str, ts: str, message: SlackMessage, meta: dict[str, Any] | None
    ) -> Posted | None:
        """chat.update, or None when the message was deleted in Slack meanwhile."""
        try:
            return self.update(channel_id, ts, message, meta=meta)
        except SlackDeliveryError as exc:
            if exc.code == "message_not_found":
                return None
            raise

    def channel_id(self, channel: str) -> str:
        """The ID of a channel given by name (conversations.list; needs channels:read)."""
        if is_channel_id(channel):
            return channel
        name, cursor = channel.removeprefix("#"), ""
        for _ in range(50):
            try:
                page = self._channels_page(channel, cursor)
            except SlackDeliveryError as exc:
                if exc.code != "missing_scope":
                    raise  # the token, the network or Slack itself: its own line says what to fix
                raise delivery_error("channel_lookup", channel=channel, detail=f" ({exc.code})") from None
            for info in page.get("channels") or []:
                if info.get("name") == name:
                    return str(info["id"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                break
        raise delivery_error("channel_not_found", channel=channel)

    def _channels_page(self, channel: str, cursor: str) -> SlackResponse:
        return self._call(
            "conversations.list",
            channel,
            lambda: self.client.conversations_list(
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=1000,
                cursor=cursor or None,
            ),
        )


_SUPERSEDED = SlackMessage(
    text="（このメッセージは更新により不要になりました）",
    blocks=[{"type": "context", "elements": [{"type": "mrkdwn", "text": "（更新により不要になりました）"}]}],
)
