"""Find the window's watched items (`[watch]`) before anything can drop them.

The later nodes read `watched` (item id -> what it matched): the prefilter and the shortlist pass
these items, the classifier gives one a category even when it fits none, the judge cannot drop one
(`watch_judge.py`), and compose puts them in the 注目 section at the top.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from digestbot.graph.context import RunContext
from digestbot.graph.state import RunState
from digestbot.watch import watchlist


def find_watched(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Graph node: `items` -> `watched`."""
    found = watchlist(runtime.context.settings.app.watch).find(state.get("items", []))
    return {"watched": found}
