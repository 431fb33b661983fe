"""Per-run knobs the graph nodes read through `runtime.context` (never from the environment)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from digestbot.agents.base import Agents
from digestbot.domain import SourceCount
from digestbot.links import LinkIndex
from digestbot.settings import Category, Settings
from digestbot.taste import Tuner

ProgressFn = Callable[[str, int], None]  # (stage, how many finished just now)


def _no_progress(stage: str, done: int) -> None:
    """Default progress sink: nothing to show."""


@dataclass(frozen=True)
class RunContext:
    settings: Settings
    agents: Agents
    categories: tuple[Category, ...]
    on_progress: ProgressFn = _no_progress
    # What ingestion learned before the graph ran: shown in the digest header and notes.
    fetched: Mapping[str, SourceCount] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    only_category: str | None = (
        None  # `--category ID` / `/digest rag`: classify everything, keep one category
    )
    links: LinkIndex | None = None  # article <-> paper links from the store (links.py); None = none
    taste: Tuner | None = None  # the learned ranking (taste.py); None = the judge's ranking, untouched
