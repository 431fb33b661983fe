"""`/digest follow …`, `/digest unfollow …`, `/digest me`: each member's topics, answered to them alone.

Entries of `commands.SUBCOMMANDS`. The ack carries the answer (a few store rows: well within
Slack's 3 s); the member's display name, shown instead of a mention when `[follow] mention = false`,
is then refreshed from users.info in the background (the slash command's `user_name` until then).
Follows are keyed by the Slack user id from the signed request, validated (`^[UW][A-Z0-9]+$`)
before it is stored. `[slack] allowed_users` applies; the commands work in any channel, since
nothing is posted there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import Engine

from digestbot.digest_json import DigestFileError, digest_from_dict
from digestbot.follows import Member, Request, Topic, member_entries, parse_request, valid_user_id
from digestbot.settings import Settings
from digestbot.slack import command_text as say
from digestbot.slack import follow_text as text
from digestbot.slack.ondemand import Call
from digestbot.store import digests as posts
from digestbot.store import follows as store

log = logging.getLogger(__name__)


def _refused(call: Call, settings: Settings) -> str | None:
    if not settings.app.follow.enabled:
        return text.FOLLOW_OFF
    allowed = settings.app.slack.allowed_users
    asker = {call.user_id, str(call.command.get("user_name", ""))}
    if allowed and not asker & set(allowed):
        return say.user_refused()
    return None if valid_user_id(call.user_id) else text.BAD_USER


def _request(call: Call, settings: Settings, words: Sequence[str]) -> Request:
    return parse_request(" ".join(words), settings.categories, settings.app.follow)


async def follow_topics(call: Call, settings: Settings, words: Sequence[str]) -> None:
    """Store the topics (and the DM choice); answer what changed."""
    if (refusal := _refused(call, settings)) is not None:
        await call.ack(text=refusal)
        return
    config = settings.app.follow
    request = _request(call, settings, words)
    if request.problems:
        await call.ack(text=text.problems_text(request.problems, settings.categories, config))
        return
    if not request.topics and request.dm is None:
        await call.ack(text=text.usage(config))
        return
    engine = await call.services.blocking(call.services.engine, settings.store_url)
    name = str(call.command.get("user_name") or call.user_id)
    added = await call.services.blocking(
        store.add_topics,
        engine,
        call.user_id,
        request.topics,
        display_name=name,
        limit=config.max_follows_per_user,
        dm=request.dm,
    )
    member = await call.services.blocking(store.member, engine, call.user_id)
    categories = {c.id: c for c in settings.categories}
    await call.ack(
        text=text.followed_text(
            added.added,
            added.already,
            added.over_limit,
            dm=bool(member and member.dm),
            dm_changed=request.dm is not None,
            categories=categories,
            config=config,
        )
    )
    call.services.tasks.spawn(refresh_name(call, settings))


async def unfollow_topics(call: Call, settings: Settings, words: Sequence[str]) -> None:
    """Remove the topics (`all`: every one; `--dm`: stop the DM digest)."""
    if (refusal := _refused(call, settings)) is not None:
        await call.ack(text=refusal)
        return
    config = settings.app.follow
    request = _request(call, settings, words)
    if request.problems:
        await call.ack(text=text.problems_text(request.problems, settings.categories, config))
        return
    engine = await call.services.blocking(call.services.engine, settings.store_url)
    before = await call.services.blocking(store.member, engine, call.user_id)
    lines = []
    if request.dm is not None:
        name = before.display_name if before else str(call.command.get("user_name") or call.user_id)
        await call.services.blocking(store.set_dm, engine, call.user_id, False, display_name=name)
        lines.append(text.dm_line(False, config))
    if request.everything:
        count = await call.services.blocking(store.remove_topics, engine, call.user_id, None)
        lines.insert(0, text.everything_removed(count))
    elif request.topics:
        known = set(before.topics) if before else set()
        removed: list[Topic] = [t for t in request.topics if t in known]
        await call.services.blocking(store.remove_topics, engine, call.user_id, removed)
        missing = [t for t in request.topics if t not in known]
        categories = {c.id: c for c in settings.categories}
        lines.insert(0, text.unfollowed_text(removed, missing, categories))
    await call.ack(text="\n".join(lines) or text.usage(config))


def matched_last_week(settings: Settings, engine: Engine, member: Member) -> int | None:
    """How many items of the last weekly digest in `[slack] channel` match the member (None: none)."""
    data = posts.last_digest(engine, settings.app.slack.channel)
    if not data:
        return None
    try:
        digest = digest_from_dict(data)
    except DigestFileError:  # an archive row from an older digest.json schema
        return None
    return len(member_entries(digest, member, limit=10_000))


async def show_me(call: Call, settings: Settings, words: Sequence[str]) -> None:
    """The member's follows, DM choice and last week's matches."""
    if (refusal := _refused(call, settings)) is not None:
        await call.ack(text=refusal)
        return
    engine = await call.services.blocking(call.services.engine, settings.store_url)
    member = await call.services.blocking(store.member, engine, call.user_id)
    matched = None
    if member is not None and member.topics:
        matched = await call.services.blocking(matched_last_week, settings, engine, member)
    categories = {c.id: c for c in settings.categories}
    await call.ack(text=text.me_text(member, categories, settings.app.follow, matched=matched))


async def refresh_name(call: Call, settings: Settings) -> None:
    """The member's display name from users.info (profile display name, else real name); a failure
    keeps the slash command's `user_name` (logged, never shown)."""
    try:
        response = await call.client.users_info(user=call.user_id)
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        name = str(profile.get("display_name") or user.get("real_name") or user.get("name") or "")
        if not name:
            return
        engine = await call.services.blocking(call.services.engine, settings.store_url)
        member = await call.services.blocking(store.member, engine, call.user_id)
        if member is not None and member.display_name != name:
            await call.services.blocking(store.set_dm, engine, call.user_id, member.dm, display_name=name)
    except Exception as exc:  # users:read may be missing; the stored user_name stays
        log.info("users.info for %s failed: %s", call.user_id, type(exc).__name__)
