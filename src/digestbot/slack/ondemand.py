"""On-demand digest runs for `/digest`: one shared generation per scope, progress, delivery.

A `Run` generates with `run_digest` in the worker's executor; each asker's `follow` task waits for
the shared run, reports its progress through the asker's response_url, then delivers: to the
channel through idempotent `deliver` (per channel and period; a second asker in the same channel
gets the link), or to the asker alone with chat.postEphemeral.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from digestbot.delivery import DeliveryRefused, deliver, period_key
from digestbot.domain import Digest, Window
from digestbot.settings import Settings
from digestbot.slack import command_text as say
from digestbot.slack.render import render_digest
from digestbot.slack.services import BotServices
from digestbot.store import digests as digest_posts
from digestbot.store.digests import DigestPost

log = logging.getLogger(__name__)

ALL_REPEATED = -1  # every item of the on-demand digest was in the weekly one
MAX_PROGRESS_UPDATES = 3  # a response_url takes 5 messages; keep room for the result


@dataclass(frozen=True)
class Scope:
    """What an on-demand digest covers: the last `days` days, one category or all."""

    days: int
    category: str | None = None

    def period(self, window: Window, tz: str) -> str:
        suffix = f"-{self.category}" if self.category else ""
        return f"{period_key(window, tz)}#ondemand-{self.days}d{suffix}"

    def label(self, settings: Settings) -> str:
        name = settings.category(self.category).name if self.category else "全カテゴリ"
        return f"直近{self.days}日・{name}"


@dataclass
class Call:
    """One invocation of the command, with Bolt's utilities."""

    ack: Callable[..., Awaitable[Any]]
    respond: Callable[..., Awaitable[Any]]
    client: Any  # AsyncWebClient
    command: dict[str, Any]
    services: BotServices

    @property
    def channel_id(self) -> str:
        return str(self.command.get("channel_id", ""))

    @property
    def user_id(self) -> str:
        return str(self.command.get("user_id", ""))

    async def tell(self, text: str) -> None:
        """An ephemeral answer through the response_url (never raises: the asker may be gone)."""
        try:
            await self.respond(text=text, response_type="ephemeral", replace_original=True)
        except Exception as exc:  # a failed answer must not hide the original outcome
            log.warning("could not answer %s: %s", self.user_id, type(exc).__name__)


@dataclass
class Progress:
    """The pipeline's progress events (fed from the worker thread), as a line for the asker."""

    totals: dict[str, int] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def update(self, stage: str, n: int) -> None:
        if stage == "candidates":
            self.totals["classify"] = n
        elif stage == "classified":
            self.totals["summarize"] = self.totals["judge"] = n
        elif stage in say.STAGES:
            self.done[stage] = self.done.get(stage, 0) + n
        self.changed.set()

    def text(self, label: str) -> str:
        return say.progress_text(label, self.totals, self.done)


@dataclass
class Run:
    """One generation in flight; requests for the same scope share it."""

    window: Window
    progress: Progress
    task: asyncio.Task[Digest]
    admin_told: bool = False  # the admin channel hears of a failure once, not once per asker


@dataclass
class OnDemandRuns:
    """The runs in flight (by scope) and the per-(channel, period) delivery locks of one app."""

    runs: dict[Scope, Run] = field(default_factory=dict)
    delivering: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)


def start_run(
    services: BotServices, settings: Settings, scope: Scope, window: Window, state: OnDemandRuns
) -> Run:
    from digestbot.runner import run_digest

    loop = asyncio.get_running_loop()
    progress = Progress()
    out_dir = (
        settings.data_dir / "digests" / "ondemand" / re.sub(r"[^\w.-]+", "_", scope.period(window, "UTC"))
    )

    def on_progress(stage: str, n: int) -> None:
        loop.call_soon_threadsafe(progress.update, stage, n)

    def generate() -> Digest:
        outcome = run_digest(
            settings,
            window,
            fetch=False,
            dry_run=True,
            only_category=scope.category,
            out_dir=out_dir,
            on_progress=on_progress,
            save_as_latest=False,
        )
        return outcome.digest

    task = services.tasks.spawn(services.pipeline(generate))
    run = Run(window, progress, task)
    state.runs[scope] = run
    task.add_done_callback(lambda _: state.runs.pop(scope, None) if state.runs.get(scope) is run else None)
    return run


async def report_progress(call: Call, run: Run, label: str) -> None:
    last = ""
    for _ in range(MAX_PROGRESS_UPDATES):
        await run.progress.changed.wait()
        run.progress.changed.clear()
        text = run.progress.text(label)
        if text != last:
            await call.tell(text)
            last = text
        await asyncio.sleep(call.services.progress_interval)


async def follow(
    call: Call, settings: Settings, *, scope: Scope, run: Run, period: str, state: OnDemandRuns
) -> None:
    """Wait for the shared run, then deliver to this asker's channel (or to the asker alone)."""
    label = scope.label(settings)
    reporter = asyncio.create_task(report_progress(call, run, label))
    try:
        digest = await asyncio.shield(run.task)
        reporter.cancel()
        if digest.entry_count == 0:
            await call.tell(say.nothing_found(label))
        elif settings.app.slack.ondemand_visibility == "channel":
            await deliver_to_channel(call, settings, digest, period=period, label=label, state=state)
        else:
            await deliver_to_asker(call, settings, digest, label)
    except DeliveryRefused as exc:
        await call.tell(say.already_posted(label, exc.permalink))
    except Exception as exc:
        log.exception("/digest %s failed", label)
        await call.tell(say.failure(exc))
        if say.needs_admin(exc) and not run.admin_told:
            run.admin_told = True
            await call.services.blocking(call.services.notify_admin, settings, say.admin_failure(label, exc))
    finally:
        reporter.cancel()


def last_weekly_here(call: Call, settings: Settings) -> DigestPost | None:
    """The newest scheduled digest posted in the asker's channel (on-demand ones have `#` in the period)."""
    engine = call.services.engine(settings.store_url)
    for post in digest_posts.recent_posts(engine):
        if post.status == "posted" and "#" not in post.period and post.channel_id == call.channel_id:
            return post
    return None


async def deliver_to_channel(
    call: Call, settings: Settings, digest: Digest, *, period: str, label: str, state: OnDemandRuns
) -> None:
    lock = state.delivering.setdefault((call.channel_id, period), asyncio.Lock())
    async with lock:  # joined requests in one channel: the second finds the post and links to it
        weekly, repeated = await repeats_of_weekly(call, settings, digest)
        if weekly is not None and repeated == ALL_REPEATED:
            await call.tell(say.same_as_weekly(label, weekly.permalink))
            return
        engine = await call.services.blocking(call.services.engine, settings.store_url)
        result = await call.services.blocking(
            deliver, digest, settings, engine, channel=call.channel_id, period=period
        )
    await call.tell(say.posted(label, result.permalink))
    if weekly is not None and repeated > 0:
        await call.tell(say.partly_in_weekly(label, repeated, weekly.permalink))


async def repeats_of_weekly(call: Call, settings: Settings, digest: Digest) -> tuple[DigestPost | None, int]:
    """The last scheduled digest posted in this channel, and how many of `digest`'s items it showed
    (ALL_REPEATED: all of them)."""
    weekly = await call.services.blocking(last_weekly_here, call, settings)
    shown = {e.item.id for s in digest.sections for e in s.entries}
    repeated = len(shown & set(weekly.item_ids)) if weekly else 0
    return weekly, ALL_REPEATED if shown and repeated == len(shown) else repeated


async def deliver_to_asker(call: Call, settings: Settings, digest: Digest, label: str) -> None:
    weekly, repeated = await repeats_of_weekly(call, settings, digest)
    if weekly is not None and repeated == ALL_REPEATED:
        await call.tell(say.same_as_weekly(label, weekly.permalink))
        return
    for message in render_digest(
        digest, tz=settings.app.general.timezone, reasons=settings.app.slack.show_reason
    ):
        await call.client.chat_postEphemeral(
            channel=call.channel_id, user=call.user_id, text=message["text"], blocks=message["blocks"]
        )
    await call.tell(say.shown_to_you(label))
    if weekly is not None and repeated > 0:
        await call.tell(say.partly_in_weekly(label, repeated, weekly.permalink))
