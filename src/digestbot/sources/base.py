"""The `Source` protocol every fetcher implements, and the per-run fetch log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from digestbot.domain import Item, SourceName, Window


class SourceError(Exception):
    """The whole source failed (down, throttled past retries, error feed). The message says why."""


@dataclass
class FetchLog:
    """Collects what a source wants the user to know, without stopping the run.

    `warnings`: partial problems (one tag feed malformed but usable, a feed empty on a weekend).
    `errors`: parts that failed (one of five tag feeds down). A source that fails entirely raises
    `SourceError` instead.
    """

    source: SourceName
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    cut_off: int = 0  # entries the source had for the window but stopped short of (a result limit)
    on_wait: Callable[[str], None] | None = field(default=None, repr=False, compare=False)
    page_ends: bool = field(default=False, repr=False, compare=False)  # see `last_of_page`

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def waiting(self, message: str) -> None:
        """Say what the source is waiting for right now (a retry's pause); shown while it lasts."""
        if self.on_wait is not None:
            self.on_wait(message)

    def last_of_page(self) -> None:
        """Say that the next item the source yields ends a page: the source then waits for the next one
        (arXiv asks for 3 s between requests), so the consumer can store and use what it has meanwhile."""
        self.page_ends = True

    def take_page_end(self) -> bool:
        """True once after `last_of_page` (the consumer's side)."""
        ended, self.page_ends = self.page_ends, False
        return ended

    def error(self, message: str) -> None:
        self.errors.append(message)


class Source(Protocol):
    """Fetches the items published in a window. Yields normalized, frozen `Item`s."""

    name: SourceName

    def fetch(self, window: Window, log: FetchLog) -> Iterator[Item]: ...
