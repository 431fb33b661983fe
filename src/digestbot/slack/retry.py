"""slack-sdk retry handlers that sleep through an injected function (so tests never really wait).

* 429: waits `Retry-After` seconds, unless Slack asks for longer than `max_retry_after` (then the
  error surfaces: a one-hour wait must not hang a scheduled run).
* Connection errors and 502/503/504: retried with exponential backoff, except for a post that may
  already have reached Slack (a dropped connection or a 500 while posting): a retry could post twice.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.error import URLError

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

Sleep = Callable[[float], None]
Clock = Callable[[], float]
POSTING = ("chat.postMessage",)  # methods that create something: never blindly retried


def never_sent(error: BaseException | None) -> bool:
    """True when the connection failed before the request could reach Slack."""
    reason = error.reason if isinstance(error, URLError) else error
    return isinstance(reason, ConnectionRefusedError | socket.gaierror)


def retry_after(response: HttpResponse) -> float:
    """The Retry-After header in seconds (1 when missing or unreadable)."""
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(0.0, float(values[0]))
            except ValueError:
                return 1.0
    return 1.0


class _InjectedSleep(RetryHandler):
    """Replaces the library's `time.sleep` with the injected one; subclasses choose the wait."""

    sleep: Sleep

    def wait(self, state: RetryState, response: HttpResponse | None) -> float:
        return float(2**state.current_attempt)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        self.sleep(self.wait(state, response))
        state.increment_current_attempt()


class RateLimitHandler(_InjectedSleep, RateLimitErrorRetryHandler):
    def __init__(self, sleep: Sleep, max_retry_count: int, max_wait: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.sleep, self.max_wait = sleep, max_wait

    def wait(self, state: RetryState, response: HttpResponse | None) -> float:
        return retry_after(response) if response is not None else 1.0

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code == 429 and retry_after(response) <= self.max_wait


class ConnectionHandler(_InjectedSleep, ConnectionErrorRetryHandler):
    def __init__(self, sleep: Sleep, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.sleep = sleep

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.endswith(POSTING) and not never_sent(error):
            return False
        return bool(super()._can_retry(state=state, request=request, response=response, error=error))


class ServerErrorHandler(_InjectedSleep, ServerErrorRetryHandler):
    def __init__(self, sleep: Sleep, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.sleep = sleep

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        statuses = (502, 503, 504) if request.url.endswith(POSTING) else (500, 502, 503, 504)
        return response is not None and response.status_code in statuses


def retry_handlers(
    sleep: Sleep, *, max_retries: int = 3, max_retry_after: float = 120.0
) -> list[RetryHandler]:
    """Rate limit first (it must see a 429 before anything else), then connection and server errors."""
    return [
        RateLimitHandler(sleep, max_retries, max_retry_after),
        ConnectionHandler(sleep, max_retries),
        ServerErrorHandler(sleep, max_retries),
    ]
