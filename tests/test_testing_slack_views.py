"""The fake Slack's modals, members and overflow menus answer like Slack (limits, triggers, pages)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from digestbot.slack.fixit_views import Target, blurb_modal
from digestbot.slack.render import fix_menu
from digestbot.testing.slack_server import SlackServer

TARGET = Target("C0DIGEST01", "1700000000.000100", "", "arxiv:2611.01234")


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer(clock=lambda: 1_700_000_000.0) as server:
        yield server


@pytest.fixture
def client(slack: SlackServer) -> WebClient:
    return WebClient(token=slack.token, base_url=slack.api_url, retry_handlers=[])


def error_of(call: Any) -> tuple[str, list[str]]:
    with pytest.raises(SlackApiError) as caught:
        call()
    data = caught.value.response.data
    return str(data["error"]), list((data.get("response_metadata") or {}).get("messages") or [])


def test_views_open_takes_a_trigger_once_and_checks_the_modal(slack: SlackServer, client: WebClient) -> None:
    """Our modal opens with a fresh trigger; the same trigger again or a made-up one is refused."""
    view = blurb_modal(TARGET, "LongRAG", max_chars=300)
    trigger = slack.trigger()
    opened = client.views_open(trigger_id=trigger, view=view)["view"]
    assert (view["callback_id"], view["private_metadata"]) == (
        opened["callback_id"],
        opened["private_metadata"],
    )
    assert "invalid_trigger_id" == error_of(lambda: client.views_open(trigger_id=trigger, view=view))[0]
    assert "invalid_trigger_id" == error_of(lambda: client.views_open(trigger_id="1.2.3", view=view))[0]


def test_a_trigger_expires_after_three_seconds() -> None:
    """Slack's trigger_id lives 3 s: a modal opened later is expired_trigger_id."""
    now = [1_700_000_000.0]
    with SlackServer(clock=lambda: now[0]) as slack:
        client = WebClient(token=slack.token, base_url=slack.api_url, retry_handlers=[])
        trigger = slack.trigger()
        now[0] += 3.5
        view = blurb_modal(TARGET, "x", max_chars=300)
        assert "expired_trigger_id" == error_of(lambda: client.views_open(trigger_id=trigger, view=view))[0]


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"title": {"type": "plain_text", "text": "x" * 25}}, "/view/title/text"),
        ({"private_metadata": "x" * 3001}, "/view/private_metadata"),
        ({"blocks": [{"type": "divider"}] * 101}, "/view/blocks"),
    ],
)
def test_views_open_refuses_a_modal_beyond_slacks_limits(
    slack: SlackServer, client: WebClient, change: dict[str, Any], pointer: str
) -> None:
    """Title > 24, private_metadata > 3000, > 100 blocks: invalid_arguments naming the field."""
    view = {**blurb_modal(TARGET, "x", max_chars=300), **change}
    code, messages = error_of(lambda: client.views_open(trigger_id=slack.trigger(), view=view))
    assert ("invalid_arguments", True) == (code, any(pointer in m for m in messages))


def test_conversations_members_pages_with_a_cursor(slack: SlackServer, client: WebClient) -> None:
    """Five members at limit=2: three pages, next_cursor empty on the last."""
    slack.set_members("C0DIGEST01", ["U1", "U2", "U3", "U4", "U5"])
    pages, cursor = [], None
    while True:
        page = client.conversations_members(channel="C0DIGEST01", limit=2, cursor=cursor)
        pages.append(page["members"])
        cursor = page["response_metadata"]["next_cursor"] or None
        if cursor is None:
            break
    assert [["U1", "U2"], ["U3", "U4"], ["U5"]] == pages


def test_an_overflow_menu_beyond_slacks_limits_is_invalid_blocks(client: WebClient) -> None:
    """Our menu posts; too many options or a value over 150 characters are refused (chat.update too)."""
    menu = fix_menu()
    ok = client.chat_postMessage(
        channel="C0DIGEST01", text="x", blocks=[{"type": "actions", "elements": [menu]}]
    )
    too_many = {**menu, "options": menu["options"] * 3}
    long_value = {**menu, "options": [menu["options"][0], {**menu["options"][1], "value": "v" * 151}]}
    bad = [{"type": "actions", "elements": [too_many]}]
    code, _ = error_of(lambda: client.chat_postMessage(channel="C0DIGEST01", text="x", blocks=bad))
    update = [{"type": "actions", "elements": [long_value]}]
    updated, messages = error_of(
        lambda: client.chat_update(channel="C0DIGEST01", ts=ok["ts"], text="x", blocks=update)
    )
    assert ("invalid_blocks", "invalid_blocks") == (code, updated)
    assert any("/blocks/0/elements/0/options/1/value" in m for m in messages)
