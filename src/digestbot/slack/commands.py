"""`/digest`: an on-demand digest in Slack, answered in Japanese.

`/digest` (the last `default_window_days` days), `/digest 3d` (or `2w`, `3日`), `/digest <category>`
(combinable: `/digest rag 3d`), `/digest categories`, `/digest watch` (the watchlist), `/digest help`.
Words that are not a period or a category go through `SUBCOMMANDS`, a dispatch table: a future
`/digest search <words>` is one more entry there.

The listener acks at once with 「生成中…」, then a background task (`ondemand.py`) runs the same
`run_digest` the CLI runs (on the items the scheduled ingest jobs stored: no fetching, so the answer
never waits on arXiv) and posts the result to the channel, or only to the asker
(`[slack] ondemand_visibility`). A second request for a scope being generated joins that run.
On-demand digests have their own period key (`2026-11-19..2026-11-22#ondemand-3d-rag`), so they
never collide with the weekly post; when the same scope was already posted to the channel (same
days), the answer is a link to that post, not a second copy.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_bolt.app.async_app import AsyncApp

from digestbot.domain import Window
from digestbot.settings import Category, ConfigError, Settings, SlackConfig
from digestbot.slack import command_text as say
from digestbot.slack.follow_command import follow_topics, show_me, unfollow_topics
from digestbot.slack.ondemand import Call, OnDemandRuns, Scope, follow, start_run
from digestbot.slack.publish import is_channel_id
from digestbot.slack.search_command import search_archive
from digestbot.slack.services import services_of
from digestbot.slack.watch_command import show_watch
from digestbot.store import digests as posts

log = logging.getLogger(__name__)

COMMAND = "/digest"
MAX_DAYS = 31
_PERIOD = re.compile(r"^(\d{1,3})(d|日|w|週|週間)$")


class UsageError(Exception):
    """The command's words cannot be understood; the message (Japanese) says how to write them."""


Subcommand = Callable[[Call, Settings, Sequence[str]], Awaitable[None]]


async def show_help(call: Call, settings: Settings, words: Sequence[str]) -> None:
    await call.ack(text=say.help_text(settings))


async def show_categories(call: Call, settings: Settings, words: Sequence[str]) -> None:
    await call.ack(text=say.categories_text(settings.categories))


SUBCOMMANDS: dict[str, Subcommand] = {
    "help": show_help,
    "ヘルプ": show_help,
    "categories": show_categories,
    "カテゴリ": show_categories,
    "search": search_archive,
    "検索": search_archive,
    "follow": follow_topics,
    "フォロー": follow_topics,
    "unfollow": unfollow_topics,
    "フォロー解除": unfollow_topics,
    "me": show_me,
    "自分": show_me,
    "watch": show_watch,
    "注目": show_watch,
}


def find_category(word: str, categories: Sequence[Category]) -> Category | None:
    folded = word.casefold()
    return next((c for c in categories if folded in (c.id.casefold(), c.name.casefold())), None)


def parse_scope(words: Sequence[str], settings: Settings) -> Scope:
    """`3d rag` -> Scope(3, "rag"). Raises `UsageError` in Japanese."""
    days: int | None = None
    category: str | None = None
    for word in words:
        match = _PERIOD.match(word.casefold())
        if match:
            if days is not None:
                raise UsageError("期間は1つだけ指定してください（例: `/digest 3d`）。")
            days = int(match.group(1)) * (1 if match.group(2) in ("d", "日") else 7)
            continue
        found = find_category(word, settings.categories)
        if found is None:
            raise UsageError(say.unknown_word(word, settings.categories))
        if category is not None:
            raise UsageError("カテゴリは1つだけ指定してください（一覧は `/digest categories`）。")
        category = found.id
    days = settings.app.general.default_window_days if days is None else days
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"期間は1〜{MAX_DAYS}日で指定してください（例: `/digest 3d`、`/digest 2w`）。")
    return Scope(days, category)


def refusal(command: dict[str, Any], slack: SlackConfig) -> str | None:
    """Why this channel or user may not ask for a digest (None when allowed)."""
    channel = {str(command.get("channel_id", "")), "#" + str(command.get("channel_name", ""))}
    allowed = {c if is_channel_id(c) else "#" + c.removeprefix("#") for c in slack.allowed_channels}
    if allowed and not channel & allowed:
        return say.channel_refused(slack.allowed_channels)
    user = {str(command.get("user_id", "")), str(command.get("user_name", ""))}
    if slack.allowed_users and not user & set(slack.allowed_users):
        return say.user_refused()
    return None


def register(app: AsyncApp) -> None:
    """Add the `/digest` listener."""
    state = OnDemandRuns()

    @app.command(COMMAND)
    async def digest_command(ack: Any, command: Any, respond: Any, client: Any, context: Any) -> None:
        call = Call(ack, respond, client, dict(command), services_of(context))
        try:
            settings = await call.services.blocking(call.services.config.current)
        except ConfigError:
            await ack(text=say.CONFIG_BROKEN)
            return
        words = str(command.get("text") or "").split()
        subcommand = SUBCOMMANDS.get(words[0].casefold()) if words else None
        if subcommand is not None:
            await subcommand(call, settings, words[1:])
        else:
            await request_digest(call, settings, words, state)


async def already_posted(call: Call, settings: Settings, period: str) -> posts.DigestPost | None:
    """This channel's post for `period`, if done. A store problem here must not cost the ack: the
    check is skipped, and delivery (idempotent) or its error answer comes later."""
    try:
        engine = await call.services.blocking(call.services.engine, settings.store_url)
        post = await call.services.blocking(posts.find_post, engine, call.channel_id, period)
    except Exception:  # logged; the run's own store access reports the problem to the asker
        log.warning("/digest: could not check for an earlier post of %s", period, exc_info=True)
        return None
    return post if post is not None and post.status == "posted" else None


async def request_digest(call: Call, settings: Settings, words: Sequence[str], state: OnDemandRuns) -> None:
    """Ack (or refuse), then generate or join, and deliver in the background."""
    slack = settings.app.slack
    reason = refusal(call.command, slack)
    if reason is not None:
        await call.ack(text=reason)
        return
    try:
        scope = parse_scope(words, settings)
    except UsageError as exc:
        await call.ack(text=f"{exc}\n{say.SHORT_USAGE}")
        return
    to_channel = slack.ondemand_visibility == "channel"
    run = state.runs.get(scope)
    window = run.window if run is not None else Window.since(f"{scope.days}d", now=call.services.now())
    period = scope.period(window, settings.app.general.timezone)
    post = await already_posted(call, settings, period) if to_channel else None
    if post is not None:
        await call.ack(text=say.already_posted(scope.label(settings), post.permalink))
        return
    run = state.runs.get(scope)  # again: another request may have started it meanwhile
    joined = run is not None
    if run is None:
        run = start_run(call.services, settings, scope, window, state)
    period = scope.period(run.window, settings.app.general.timezone)
    await call.ack(text=say.accepted(scope.label(settings), joined=joined, to_channel=to_channel))
    call.services.tasks.spawn(follow(call, settings, scope=scope, run=run, period=period, state=state))
