"""`digestbot serve` killed with SIGKILL at the worst moments of one weekly run, and restarted each time:
during the fetch, during the LLM fan-out, and between the Slack post and its record. The run
completes; no LLM call that had been answered is asked again (only calls in flight are repeated,
counted at the fake OpenAI server); exactly one digest reaches the channel for the period."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest

from digestbot.testing.arxiv_server import Reply
from reliability.harness import (
    ARXIV_TITLES,
    QIITA_TITLES,
    ZENN_TITLES,
    Hang,
    Stack,
    publish_recent,
    wait_until,
)
from support.worker_env import Worker

TITLES = [*ARXIV_TITLES, *QIITA_TITLES, *ZENN_TITLES]
VICTIM = ARXIV_TITLES[1]
EVERY_TWO_SECONDS = '{ day_of_week = "*", hour = "*", minute = "*", second = "*/2" }'


def answered(stack: Stack) -> set[tuple[str, str]]:
    """(schema, item title) of every summary and verdict the fake model has answered with 200."""
    done = set()
    for request in stack.llm.requests:
        schema = (request.body.get("response_format") or {}).get("json_schema", {}).get("name")
        text = "\n".join(str(m.get("content") or "") for m in request.body.get("messages", []))
        if request.status == 200 and schema in ("Blurb", "Verdict"):
            done |= {(schema, title) for title in TITLES if f"<title>{title}</title>" in text}
    return done


def cached(stack: Stack) -> int:
    """Result-cache rows the worker has committed (7 classifications, then a summary and a verdict each)."""
    with sqlite3.connect(stack.data_dir / "digestbot.sqlite") as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM result_cache").fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0


def asked(stack: Stack, since: int) -> list[tuple[str, str]]:
    """(schema, item title or 'batch') of the requests the model received after `since`."""
    out = []
    for schema, text in stack.model.seen[since:]:
        titles = [t for t in TITLES if f"<title>{t}</title>" in text]
        out.append((schema, titles[0] if schema != "ClassificationBatch" and titles else "batch"))
    return out


@pytest.mark.slow
def test_sigkill_during_fetch_fan_out_and_post_then_restart_posts_once_without_repeating_llm_work(
    stack: Stack, start_worker: Callable[[str], Worker]
) -> None:
    """Three SIGKILLs in one weekly run, a restart after each: one digest with every item; LLM work the
    worker had saved is never asked again, only the call in flight."""
    stack.configure(extra=f"\n[schedule]\nweekly_digest = {EVERY_TWO_SECONDS}\n")
    publish_recent(stack)

    # 1. killed during the fetch: arXiv holds its answer until the worker is gone
    stack.arxiv.script(Reply(delay=60))
    first = start_worker("first")
    wait_until(lambda: bool(stack.arxiv.requests), timeout=60, what="the weekly run's arXiv request")
    first.kill()
    llm_after_first = len(stack.model.seen)

    # 2. killed during the fan-out: one item's summary hangs while the others finish
    hang = Hang(60)
    stack.model.on("Blurb", f"<title>{VICTIM}</title>", hang)
    second = start_worker("second")
    wait_until(  # every other item's summary and verdict answered AND saved by the worker
        lambda: ("Blurb", VICTIM) in asked(stack, 0) and len(answered(stack)) == 12 and cached(stack) >= 19,
        timeout=60,
        what="the fan-out to finish all but the hanging summary",
    )
    second.kill()
    hang.released.set()
    done_before_third = answered(stack)
    stack.model.rules.clear()
    seen_before_third = len(stack.model.seen)

    # 3. killed between the Slack post and its record: the post lands, its answer never arrives
    stack.slack.fault("stall_after", method="chat.postMessage")
    third = start_worker("third")
    wait_until(lambda: bool(stack.slack.calls("chat.postMessage")), timeout=60, what="the digest post")
    third.kill()
    stack.slack.release()
    seen_before_fourth = len(stack.model.seen)

    # 4. the last restart finishes: it finds the post in Slack and posts nothing more
    fourth = start_worker("fourth")
    wait_until(lambda: "already posted" in fourth.output, timeout=60, what="the fourth worker to settle")
    code = fourth.stop()

    repeated = [key for key in asked(stack, seen_before_third) if key in done_before_third]
    posted = "\n".join(stack.slack_payloads())
    expected = (0, [], True, 0, 1, 1, [], 0, True)
    assert expected == (
        llm_after_first,
        repeated,
        ("Blurb", VICTIM) in asked(stack, seen_before_third),  # the call in flight is asked again
        sum(1 for schema, _ in asked(stack, seen_before_third) if schema == "ClassificationBatch"),
        len(stack.top_level()),
        len(stack.slack.calls("chat.postMessage")),
        [t for t in TITLES if t not in posted],
        len(stack.model.seen) - seen_before_fourth,
        code == 0,
    ), fourth.output
