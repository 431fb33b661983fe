"""Who may fix the digest, one fix at a time per message, and the agents that re-write a blurb.

Members of the channel the digest was posted in (conversations.members, every page, cached for
`[corrections] members_cache_seconds`) and the users in `[corrections] allowed_users`. A member
list Slack does not give (an error) refuses: fail closed. `FixState` lives in the worker's
`BotServices` (one per process).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from digestbot.agents.base import Agents
from digestbot.settings import Settings

MAX_MEMBER_PAGES = 100


def default_agents(settings: Settings) -> Agents:
    from digestbot.agents.factory import build_agents

    return build_agents(settings)


@dataclass
class FixState:
    """Per worker: the member cache, the per-message locks, how agents are made (tests inject one)."""

    make_agents: Callable[[Settings], Agents] = default_agents
    clock: Callable[[], float] = time.monotonic
    page_size: int = 200  # conversations.members per page (Slack recommends <= 200)
    _members: dict[str, tuple[float, frozenset[str]]] = field(default_factory=dict)
    _locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    _waiting: dict[tuple[str, str], int] = field(default_factory=dict)

    @asynccontextmanager
    async def message_lock(self, channel: str, ts: str) -> AsyncIterator[None]:
        """Serialize fixes of one message (re-read it inside): no update is lost to another."""
        key = (channel, ts)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiting[key] -= 1
            if self._waiting[key] == 0:  # forget idle locks: the dict stays small
                del self._waiting[key], self._locks[key]

    async def members(self, client: Any, channel: str, ttl: float) -> frozenset[str]:
        """The channel's member ids (every page); raises the client's error when Slack answers one."""
        cached = self._members.get(channel)
        if cached is not None and self.clock() < cached[0]:
            return cached[1]
        found: set[str] = set()
        cursor = ""
        for _ in range(MAX_MEMBER_PAGES):
            response = await client.conversations_members(
                channel=channel, cursor=cursor or None, limit=self.page_size
            )
            found.update(str(m) for m in response.get("members") or [])
            cursor = str((response.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        members = frozenset(found)
        self._members[channel] = (self.clock() + ttl, members)
        return members

    async def may_fix(self, client: Any, settings: Settings, channel: str, user: str) -> bool:
        config = settings.app.corrections
        if user in config.allowed_users:
            return True
        return user in await self.members(client, channel, config.members_cache_seconds)
