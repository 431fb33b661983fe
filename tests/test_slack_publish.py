"""SlackPublisher against the local Slack server with the real slack-sdk WebClient."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from digestbot.settings import SlackConfig
from digestbot.slack.errors import FIXES, SlackDeliveryError
from digestbot.slack.history import find_digest
from digestbot.slack.publish import EVENT_TYPE, SlackPublisher
from digestbot.slack.render import SlackMessage, render_digest
from digestbot.testing.slack_server import SlackServer
from support.sample_digest import large_digest

FIXTURES = Path(__file__).parent / "fixtures" / "slack"
CHANNEL_ID = "C0DIGEST01"


class ManualClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def message(text: str) -> SlackMessage:
    return SlackMessage(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def publisher(slack: SlackServer, clock: ManualClock, token: str | None = None) -> SlackPublisher:
    config = SlackConfig(api_url=slack.api_url, channel="#llm-digest", min_seconds_between_posts=1.0)
    return SlackPublisher(config, token or slack.token, sleep=clock.sleep, clock=clock)


def test_publish_posts_the_first_message_then_replies_in_its_thread(
    slack: SlackServer, clock: ManualClock
) -> None:
    """Part 1 is top-level, parts 2..N reply to it; each carries the period marker."""
    messages = render_digest(large_digest(categories=3, per_category=25))
    timestamps = publisher(slack, clock).publish("#llm-digest", messages, period="2026-11-16..2026-11-22")
    posted = slack.messages(CHANNEL_ID)
    assert [m["ts"] for m in posted] == timestamps
    assert [m.get("thread_ts") for m in posted] == [None] + [timestamps[0]] * (len(messages) - 1)
    assert [m["metadata"]["event_payload"]["part"] for m in posted] == list(range(1, len(messages) + 1))
    assert {m["metadata"]["event_type"] for m in posted} == {EVENT_TYPE}


def test_posts_never_unfurl_nor_parse_names(slack: SlackServer, clock: ManualClock) -> None:
    """unfurl_links/unfurl_media are off; link_names and parse are never sent."""
    publisher(slack, clock).post("#llm-digest", message("hello"))
    body = slack.calls("chat.postMessage")[0].body
    assert (body["unfurl_links"], body["unfurl_media"], "link_names" in body, "parse" in body) == (
        False,
        False,
        False,
        False,
    )


def test_posts_to_one_channel_are_at_least_a_second_apart(slack: SlackServer, clock: ManualClock) -> None:
    """The second post waits for the rest of the second, through the injected sleep."""
    pub = publisher(slack, clock)
    pub.post("#llm-digest", message("1"))
    clock.now += 0.25
    pub.post("#llm-digest", message("2"))
    assert clock.sleeps == [0.75]


def test_rate_limit_waits_retry_after_then_succeeds(slack: SlackServer, clock: ManualClock) -> None:
    """429 + Retry-After: 7 -> sleep(7), one retry, exactly one message in the channel."""
    slack.fault("rate_limit", method="chat.postMessage", retry_after=7)
    publisher(slack, clock).post("#llm-digest", message("x"))
    assert (clock.sleeps, len(slack.messages(CHANNEL_ID))) == ([7.0], 1)


def test_a_retry_after_longer_than_allowed_fails_with_advice(slack: SlackServer, clock: ManualClock) -> None:
    """Retry-After 3600 is not waited out: the error says to retry later with post --last."""
    slack.fault("rate_limit", method="chat.postMessage", retry_after=3600)
    with pytest.raises(SlackDeliveryError) as caught:
        publisher(slack, clock).post("#llm-digest", message("x"))
    assert (caught.value.code, clock.sleeps) == ("ratelimited", [])
    assert "retry after 3600 s" in str(caught.value)
    assert "digestbot post --last" in str(caught.value)


def test_server_unavailable_is_retried(slack: SlackServer, clock: ManualClock) -> None:
    """503 twice, then success: the message is posted once."""
    slack.fault("server_error", method="chat.postMessage", status=503, times=2)
    publisher(slack, clock).post("#llm-digest", message("x"))
    assert (len(clock.sleeps), len(slack.messages(CHANNEL_ID))) == (2, 1)


def test_a_500_while_posting_is_not_retried_and_may_have_posted(
    slack: SlackServer, clock: ManualClock
) -> None:
    """A 500 may hide a post that happened: no blind retry, the error says so."""
    slack.fault("server_error", method="chat.postMessage", status=500)
    with pytest.raises(SlackDeliveryError) as caught:
        publisher(slack, clock).post("#llm-digest", message("x"))
    assert (caught.value.code, caught.value.maybe_posted, len(slack.calls("chat.postMessage"))) == (
        "server_error",
        True,
        1,
    )


def test_a_dropped_connection_after_posting_is_not_retried(slack: SlackServer, clock: ManualClock) -> None:
    """Slack got the message but the answer was lost: reported as maybe posted, never posted twice."""
    slack.fault("disconnect_after", method="chat.postMessage")
    with pytest.raises(SlackDeliveryError) as caught:
        publisher(slack, clock).post("#llm-digest", message("x"))
    assert (caught.value.code, caught.value.maybe_posted, len(slack.messages(CHANNEL_ID))) == (
        "connection_error",
        True,
        1,
    )


def test_refused_connections_are_retried_then_reported(slack: SlackServer, clock: ManualClock) -> None:
    """With Slack unreachable the post is retried with backoff, then fails naming api_url and the fix."""
    slack.stop()
    with pytest.raises(SlackDeliveryError) as caught:
        publisher(slack, clock).post("#llm-digest", message("x"))
    assert (caught.value.code, caught.value.maybe_posted, clock.sleeps) == (
        "connection_error",
        False,
        [1, 2, 4],
    )
    assert str(caught.value).startswith(f"cannot reach Slack at {slack.api_url}")


def test_not_in_channel_names_the_fix() -> None:
    """The error tells the user to invite the bot to the channel."""
    clock = ManualClock()
    with SlackServer(member_of=["random"]) as slack, pytest.raises(SlackDeliveryError) as caught:
        publisher(slack, clock).post("#llm-digest", message("x"))
    assert caught.value.code == "not_in_channel"
    assert "invite the bot to #llm-digest" in str(caught.value)


def test_unknown_channel_and_bad_token_name_their_fixes(slack: SlackServer, clock: ManualClock) -> None:
    """channel_not_found points at the config key; invalid_auth at SLACK_BOT_TOKEN."""
    with pytest.raises(SlackDeliveryError) as channel:
        publisher(slack, clock).post("#nope", message("x"))
    with pytest.raises(SlackDeliveryError) as token:
        publisher(slack, clock, token="xoxb-revoked").post("#llm-digest", message("x"))
    assert "[slack] channel in config/digestbot.toml" in str(channel.value)
    assert "set SLACK_BOT_TOKEN" in str(token.value)


def test_missing_token_fails_before_any_request(slack: SlackServer) -> None:
    """No token: a clear error and no request to Slack."""
    with pytest.raises(SlackDeliveryError) as caught:
        SlackPublisher(SlackConfig(api_url=slack.api_url), None)
    assert (caught.value.code, slack.requests) == ("no_token", [])


def test_rejected_layout_quotes_slacks_error_line(slack: SlackServer, clock: ManualClock) -> None:
    """invalid_blocks carries Slack's [ERROR] line, so a bug report says what was wrong."""
    too_many = SlackMessage(text="x", blocks=[{"type": "divider"}] * 51)
    with pytest.raises(SlackDeliveryError) as caught:
        publisher(slack, clock).post("#llm-digest", too_many)
    assert "[ERROR] no more than 50 items allowed [json-pointer:/blocks]" in str(caught.value)


def test_publish_with_existing_parts_updates_them_and_adds_the_rest(
    slack: SlackServer, clock: ManualClock
) -> None:
    """Editing a 1-part digest into 3 parts: one chat.update, two new replies in the same thread."""
    pub = publisher(slack, clock)
    first = pub.publish("#llm-digest", [message("old")], period="p")
    new = [message("a"), message("b"), message("c")]
    timestamps = pub.publish("#llm-digest", new, period="p", existing=first, channel_id=CHANNEL_ID)
    assert (len(slack.calls("chat.update")), timestamps[0]) == (1, first[0])
    assert [m["text"] for m in slack.messages(CHANNEL_ID)] == ["a", "b", "c"]


def test_publish_replaces_a_deleted_parent_with_a_new_thread(slack: SlackServer, clock: ManualClock) -> None:
    """If the parent message is gone (message_not_found), the digest is posted afresh."""
    pub = publisher(slack, clock)
    timestamps = pub.publish(
        "#llm-digest", [message("a")], period="p", existing=["1.000009"], channel_id=CHANNEL_ID
    )
    assert ([m["text"] for m in slack.messages(CHANNEL_ID)], timestamps[0] != "1.000009") == (["a"], True)


def test_find_digest_matches_the_period_marker(slack: SlackServer, clock: ManualClock) -> None:
    """The parts of one period are found in order; another period's digest is ignored."""
    pub = publisher(slack, clock)
    pub.publish("#llm-digest", [message("other")], period="2026-11-09..2026-11-15")
    mine = pub.publish("#llm-digest", [message("1"), message("2")], period="2026-11-16..2026-11-22")
    found = find_digest(pub, CHANNEL_ID, period="2026-11-16..2026-11-22", oldest=0, latest=time.time() + 60)
    assert (list(found.ts), found.parts, found.complete) == (mine, 2, True)


def test_channel_id_is_looked_up_by_name(slack: SlackServer, clock: ManualClock) -> None:
    """A configured channel name is resolved through conversations.list."""
    assert publisher(slack, clock).channel_id("#llm-digest") == CHANNEL_ID


def test_channel_lookup_without_scope_says_what_to_configure(clock: ManualClock) -> None:
    """Without channels:read the error suggests the channel ID or the scope."""
    with SlackServer(can_list_channels=False) as slack, pytest.raises(SlackDeliveryError) as caught:
        publisher(slack, clock).channel_id("#llm-digest")
    assert "set [slack] channel to the channel's ID" in str(caught.value)


def test_every_slack_error_we_explain_is_a_documented_chat_post_message_error() -> None:
    """Spelling check against Slack's error table (plus auth errors and our own codes)."""
    documented = set(
        json.loads((FIXTURES / "slack-api-ref_methods_chat.postMessage.json").read_text())["errors"]
    )
    general = {"invalid_auth", "msg_too_long", "internal_error", "message_not_found"}
    ours = {"no_token", "server_error", "connection_error", "channel_lookup"}
    assert set(FIXES) - documented - general - ours == set()
