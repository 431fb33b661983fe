"""Shared services for Slack listeners: the config holder, an executor for blocking work, background tasks.

`build_app` puts one `BotServices` in every listener's `context`; a listener gets it with
`services_of(context)`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine

from digestbot.config_reload import ConfigHolder, post_admin_message
from digestbot.settings import Settings
from digestbot.slack.fixit_access import FixState
from digestbot.store.schema import open_engine

log = logging.getLogger(__name__)

T = TypeVar("T")
SERVICES_KEY = "digestbot_services"


class Tasks:
    """Background work started by listeners after their ack; awaited at shutdown and in tests."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def join(self, within: float | None = None) -> bool:
        """Wait until no task is left (tasks may start others); False if `within` seconds ran out first."""
        loop = asyncio.get_running_loop()
        deadline = None if within is None else loop.time() + within
        while self._tasks:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=left)
        return True


@dataclass
class BotServices:
    """What listeners share within one worker."""

    config: ConfigHolder
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    notify_admin: Callable[[Settings, str], Any] = post_admin_message
    progress_interval: float = 5.0  # seconds between two progress updates to the asker
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="digest-io")
    )
    # Digests run apart from the quick calls above, so a flood of long runs can never hold up an ack.
    pipelines: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="digest-run")
    )
    tasks: Tasks = field(default_factory=Tasks)
    fixit: FixState = field(default_factory=FixState)  # 要約を直す/カテゴリを直す (slack/fixit.py)
    _engines: dict[str, Engine] = field(default_factory=dict)

    def engine(self, url: str) -> Engine:
        """The store's engine, opened (and migrated) once per URL. Blocking: call via `blocking`."""
        if url not in self._engines:
            self._engines[url] = open_engine(url)
        return self._engines[url]

    async def blocking(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run quick blocking work (the config, the store, the sync Slack client) off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def pipeline(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a digest pipeline: at most two at once, in their own threads (see `pipelines`)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pipelines, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Dispose the engines; running work in the executor is not waited for."""
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.pipelines.shutdown(wait=False, cancel_futures=True)


def services_of(context: Any) -> BotServices:
    services = context.get(SERVICES_KEY)
    if not isinstance(services, BotServices):
        raise RuntimeError("the Bolt app was not built with build_app(): no services in the context")
    return services
