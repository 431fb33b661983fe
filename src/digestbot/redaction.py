"""Known secret values never leave the process: one `Scrubber`, built once from the settings.

Outside text can quote a secret back at us: a provider's 400/403/500 body quoting the API key it was
sent, a feed server echoing the Authorization header, a database driver repeating its URL. The
scrubber replaces every known value (tokens, keys, the store's password) with `***`. It is applied
where outside text becomes our error text (`sources/http.py`, the model boundary `agents/llm.py`,
the store URL), on the admin alerts, and, once `install(...)` ran at startup, on every log record
(message, arguments and traceback) and on an uncaught traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import quote, unquote

MASK = "***"
MIN_SECRET_CHARS = 6  # a shorter value would blank ordinary words; no real token or key is that short


@dataclass(frozen=True, slots=True)
class Scrubber:
    """`scrubber(text)` -> the text with every known secret value replaced by `***`."""

    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, secrets: Iterable[str | None]) -> Scrubber:
        """From raw values: also their bare token (`Bearer x` -> `x`) and URL-encoded/decoded forms."""
        forms: set[str] = set()
        for secret in secrets:
            value = (secret or "").strip()
            for base in {value, value.split(" ", 1)[-1]}:
                forms |= {
                    f for f in (base, quote(base, safe=""), unquote(base)) if len(f) >= MIN_SECRET_CHARS
                }
        return cls(tuple(sorted(forms, key=len, reverse=True)))  # longest first: no half-masked value

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text


def url_password(url: str) -> str | None:
    """The password in `scheme://user:password@host/…` (or without a scheme), else None."""
    rest = url.split("://", 1)[-1]
    if "@" not in rest:
        return None
    credentials = rest.rsplit("@", 1)[0]
    return credentials.split(":", 1)[1] if ":" in credentials else None


class _Installed:
    """The scrubber `install` set for this process (a class attribute, not a `global`)."""

    scrubber = Scrubber()


_make_record = logging.getLogRecordFactory()
_formatter = logging.Formatter()


def _scrubbed_record(*args: object, **kwargs: object) -> logging.LogRecord:
    record = _make_record(*args, **kwargs)
    active = _Installed.scrubber
    if active.values:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: logging reports it when emitting
            return record
        record.msg, record.args = active(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = active(_formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = active(record.stack_info)
    return record


def _scrubbed_excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    sys.stderr.write(_Installed.scrubber("".join(traceback.format_exception(kind, value, tb))))


def install(scrubber: Scrubber) -> None:
    """Scrub every log record and an uncaught traceback with `scrubber` from now on (idempotent)."""
    _Installed.scrubber = scrubber
    logging.setLogRecordFactory(_scrubbed_record)
    sys.excepthook = _scrubbed_excepthook
