"""Slack misbehaving while `digestbot run` posts: retry, or one clear line; the digest is kept and
`digestbot post --last` sends it later, exactly once per (channel, period)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from reliability.harness import DAYS, Stack, arxiv_entry, classify_all

RESEND = "re-send it with `digestbot post --last`"


ABSORBED: dict[str, Callable[[Stack], None]] = {
    "429-with-retry-after": lambda s: s.slack.fault(
        "rate_limit", method="chat.postMessage", retry_after=0, times=2
    ),
    "503": lambda s: s.slack.fault("server_error", method="chat.postMessage", status=503),
    "502-on-permalink": lambda s: s.slack.fault("server_error", method="chat.getPermalink", status=502),
}


@pytest.mark.parametrize("fault", list(ABSORBED))
def test_a_passing_slack_fault_is_retried_and_posts_once(stack: Stack, fault: str) -> None:
    """429 (after its Retry-After) and 5xx are retried: `run` exits 0 with one message in the channel."""
    ABSORBED[fault](stack)

    result = stack.cli("run", *DAYS)

    landed = [r for r in stack.slack.calls("chat.postMessage") if r.status == 200 and r.error is None]
    expected = (0, 1, 1)
    assert expected == (result.exit_code, len(stack.top_level()), len(landed))


def _bad_token(stack: Stack) -> None:
    stack.env.setenv("SLACK_BOT_TOKEN", "xoxb-revoked-0000")


def _fix_token(stack: Stack) -> None:
    stack.env.setenv("SLACK_BOT_TOKEN", stack.slack.token)


def _unknown_channel(stack: Stack) -> None:
    stack.configure(channel="#no-such-channel")


def _known_channel(stack: Stack) -> None:
    stack.configure(channel="#llm-digest")


def _slack_down(stack: Stack) -> None:
    stack.slack.stop()


def _nothing(_: Stack) -> None:
    """The fault was one-shot: nothing to repair."""


FAILING: dict[str, tuple[Callable[[Stack], None], Callable[[Stack], None], str]] = {
    # name: (break Slack, repair it, what the one-line error says)
    "429-retry-after-over-the-cap": (
        lambda s: s.slack.fault("rate_limit", method="chat.postMessage", retry_after=3600),
        _nothing,
        "Slack is rate-limiting the bot (ratelimited, retry after 3600 s)",
    ),
    "500-while-posting": (
        lambda s: s.slack.fault("server_error", method="chat.postMessage", status=500),
        _nothing,
        "Slack had a server problem (server_error, HTTP 500)",
    ),
    "answer-lost-after-the-post-landed": (
        lambda s: s.slack.fault("disconnect_after", method="chat.postMessage"),
        _nothing,
        "cannot reach Slack",
    ),
    "invalid_auth": (
        _bad_token,
        _fix_token,
        "Slack rejected the bot token (invalid_auth): set SLACK_BOT_TOKEN",
    ),
    "channel_not_found": (
        _unknown_channel,
        _known_channel,
        "Slack channel #no-such-channel was not found (channel_not_found)",
    ),
    "not_in_channel": (
        lambda s: s.slack.fault("error", method="chat.postMessage", error="not_in_channel"),
        _nothing,
        "invite the bot to #llm-digest",
    ),
    "invalid_blocks": (
        lambda s: s.slack.fault("error", method="chat.postMessage", error="invalid_blocks"),
        _nothing,
        "Slack rejected the digest's layout (invalid_blocks",
    ),
    "slack-unreachable": (
        _slack_down,
        lambda s: s.slack.restart(),
        "cannot reach Slack at http://127.0.0.1:",
    ),
}


@pytest.mark.parametrize(
    "fault",
    [  # Slack unreachable waits out the real connection backoff (1 + 2 + 4 s): the CLI injects no sleep
        pytest.param(name, marks=pytest.mark.slow) if name == "slack-unreachable" else name
        for name in FAILING
    ],
)
def test_a_slack_failure_is_one_clear_line_and_the_saved_digest_posts_later_once(
    stack: Stack, fault: str
) -> None:
    """`run` exits 1 naming the fix and where the digest is; `post --last` then posts it exactly once."""
    breaks, repairs, message = FAILING[fault]
    breaks(stack)

    failed = stack.cli("run", *DAYS)
    repairs(stack)
    resent = stack.cli("post", "--last")
    again = stack.cli("post", "--last")

    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    expected = (1, None, 1, True, 0, 3, 1)
    assert expected == (
        failed.exit_code,
        failed.exception if not isinstance(failed.exception, SystemExit) else None,
        len(errors),
        RESEND in failed.stderr,
        resent.exit_code,
        again.exit_code,
        len(stack.top_level()),
    )
    assert message in errors[0]
    assert (stack.data_dir / "digests" / "latest.json").exists()


def _spread_over_categories(request: dict[str, Any]) -> dict[str, Any]:
    answer = classify_all(request)
    for result in answer["results"]:
        result["primary"] = ("rag", "agents", "reasoning", "efficiency", "training")[
            int(result["item_id"]) % 5
        ]
    return answer


def test_a_failure_mid_thread_keeps_the_posted_parts_and_completes_later(stack: Stack) -> None:
    """A digest in several messages failing at part 2: `post --last` adds only the missing thread parts."""
    titles = [f"LLM study {n}: " + "長いタイトルの論文" * 40 for n in range(40)]
    stack.set_arxiv([arxiv_entry(n, title) for n, title in enumerate(titles, 1)])
    stack.model.on("ClassificationBatch", "", _spread_over_categories)
    stack.slack.fault("error", method="chat.postMessage", error="invalid_blocks", after=1)

    failed = stack.cli("run", *DAYS)
    resent = stack.cli("post", "--last")

    messages = stack.digest_messages()
    parts = [m["metadata"]["event_payload"]["part"] for m in messages]
    total = messages[0]["metadata"]["event_payload"]["parts"]
    expected = (1, 0, list(range(1, total + 1)), 1)
    assert expected == (failed.exit_code, resent.exit_code, parts, len(stack.top_level()))
    assert total >= 2


@pytest.mark.slow  # waits out the real connection backoff (1 + 2 + 4 s, twice): the CLI injects no sleep
def test_slack_unreachable_is_retried_with_backoff_counted_at_the_server_then_posted_once(
    stack: Stack,
) -> None:
    """Every connection to Slack dropped before it answers: each call is tried 1 + 3 times (counted at
    the fake: the pre-agent look in the channel and the delivery's, 4 + 4), nothing is posted, `run`
    exits 1 with one line; after the repair `post --last` posts once and a repeat is refused."""
    stack.slack.fault("disconnect", times=8)

    failed = stack.cli("run", *DAYS)
    resent = stack.cli("post", "--last")
    again = stack.cli("post", "--last")

    dropped = [r.method for r in stack.slack.requests if r.error == "disconnected"]
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    expected = (["conversations.list"] * 8, 1, 1, True, 0, 3, 1)
    assert expected == (
        dropped,
        failed.exit_code,
        len(errors),
        "cannot reach Slack at http://127.0.0.1:" in failed.stderr,
        resent.exit_code,
        again.exit_code,
        len(stack.top_level()),
    ), failed.stderr
