"""The fake workspace's people: users.info and conversations.open (a DM with one user), like Slack.

`SlackServer.add_user(...)` makes a member known. conversations.open with `users=<id>` answers the
DM's channel id (`D…`, stable per user, created on first open) and lets the bot post there and read
its history; an unknown id is `user_not_found`, a bot user `cannot_dm_bot`, a deactivated one
`user_disabled`. users.info answers the user object (`profile.display_name`, `real_name`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from digestbot.testing.slack_validation import Answer, error

if TYPE_CHECKING:
    from digestbot.testing.slack_workspace import Workspace


def user_record(user_id: str, name: str, *, display_name: str = "", is_bot: bool = False) -> dict[str, Any]:
    return {
        "id": user_id,
        "team_id": "T0DIGEST",
        "name": name,
        "real_name": name,
        "deleted": False,
        "is_bot": is_bot,
        "profile": {"display_name": display_name, "real_name": name},
    }


def dm_channel_id(user_id: str) -> str:
    return "D" + user_id[1:]


def users_info(state: Workspace, body: dict[str, Any]) -> Answer:
    user = state.users.get(str(body.get("user", "")))
    return (200, {"ok": True, "user": user}) if user is not None else error("user_not_found")


def conversations_open(state: Workspace, body: dict[str, Any]) -> Answer:
    """A DM with exactly one user (`users=U…`); group DMs are not modelled."""
    wanted = [u for u in str(body.get("users") or "").split(",") if u]
    if len(wanted) != 1:
        return error("invalid_arguments" if not wanted else "not_supported")
    user = state.users.get(wanted[0])
    if user is None:
        return error("user_not_found")
    if user.get("is_bot"):
        return error("cannot_dm_bot")
    if user.get("deleted"):
        return error("user_disabled")
    channel_id = dm_channel_id(wanted[0])
    state.channels.setdefault(f"dm-{wanted[0]}", channel_id)
    state.members.add(channel_id)
    return 200, {"ok": True, "channel": {"id": channel_id, "is_im": True, "user": wanted[0]}}
