"""One digest per (channel, period) from every path, whatever the store or the clock says.

Two `digestbot run` processes for one period at once (20 trials), the store deleted between two runs,
a period that has not happened, the trends chart lost to a crash between the post and its upload, and
a re-run after a crash that must not edit what is already right. Runs go through the real CLI
(subprocesses where two processes or a kill are the point) against the local Slack server; the
assertions read what that server received.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from digestbot.config_reload import ConfigHolder
from digestbot.delivery import FuturePeriod, deliver
from digestbot.domain import Item, Window
from digestbot.jobs import JobRuntime, run_weekly, weekly_window
from digestbot.store import ItemStore
from digestbot.store.digests import digest_posts, recent_posts
from digestbot.testing.slack_server import SlackServer
from reliability.harness import CHANNEL_ID, DAYS, Stack, arxiv_entry, wait_until
from support.sample_digest import representative_digest

OURS = ("DIGESTBOT_", "SLACK_", "DATABASE_URL", "OPENAI_", "ANTHROPIC_", "QIITA_")
OFFLINE_NO_TRENDS = "\n[trends]\nenabled = false\n"


@dataclass
class Trial:
    """A store and a Slack workspace of their own, and the environment of a `digestbot` process."""

    root: Path
    slack: SlackServer
    env: dict[str, str]

    def start(self, *args: str, name: str = "run") -> subprocess.Popen[bytes]:
        out = (self.root / f"{name}.log").open("wb")
        command = [sys.executable, "-m", "digestbot", *args]
        return subprocess.Popen(command, env=self.env, cwd=self.root, stdout=out, stderr=subprocess.STDOUT)

    def log(self, name: str = "run") -> str:
        return (self.root / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def top_level(self) -> list[dict[str, object]]:
        return [
            m
            for m in self.slack.messages(CHANNEL_ID)
            if "metadata" in m and m.get("thread_ts") in (None, m["ts"])
        ]


@pytest.fixture
def items(stack: Stack) -> list[Item]:
    """The standard items, fetched once through the real clients (each trial starts from a copy)."""
    assert stack.cli("fetch", *DAYS).exit_code == 0
    return stack.stored()


@pytest.fixture
def new_trial(stack: Stack, items: list[Item], tmp_path: Path) -> Iterator[Callable[[], Trial]]:
    """A factory of trials: offline agents, no trends, the fetched items, no fetch needed."""
    counter = iter(range(1_000))

    def make() -> Trial:
        root = tmp_path / f"trial-{next(counter)}"
        (root / "data").mkdir(parents=True)
        url = f"sqlite:///{root / 'data' / 'digestbot.sqlite'}"
        with ItemStore(url) as store:
            store.upsert(items)
        slack = SlackServer().start()
        started.append(slack)
        env = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
        env |= {
            "DIGESTBOT_CONFIG_DIR": str(stack.config_dir),
            "DIGESTBOT_DATA_DIR": str(root / "data"),
            "DATABASE_URL": url,
            "DIGESTBOT_SLACK_API_URL": slack.api_url,
            "SLACK_BOT_TOKEN": slack.token,
        }
        return Trial(root, slack, env)

    started: list[SlackServer] = []
    stack.configure(llm_model="", extra=OFFLINE_NO_TRENDS)
    yield make
    for slack in started:
        slack.stop()


TRIALS = 20


@pytest.mark.slow
def test_two_runs_at_once_for_one_period_post_exactly_one_digest_every_time(
    new_trial: Callable[[], Trial],
) -> None:
    """20 trials of two `digestbot run` processes started together for one period: one digest in the
    channel every time; one process posts (exit 0), the other waits for the posting lease and is
    refused as already posted (exit 3), naming the period."""
    outcomes = []
    for _ in range(TRIALS):
        trial = new_trial()
        runs = [trial.start("run", "--no-fetch", *DAYS, name=f"run-{n}") for n in (1, 2)]
        codes = sorted(run.wait(timeout=180) for run in runs)
        refused = next((trial.log(f"run-{n}") for n in (1, 2) if "not posted:" in trial.log(f"run-{n}")), "")
        outcomes.append(
            (
                codes,
                len(trial.top_level()),
                len(trial.slack.calls("chat.postMessage")),
                "2026-01-05..2026-01-11" in refused,
            )
        )
    assert [([0, 3], 1, 1, True)] * TRIALS == outcomes


def test_a_deleted_store_does_not_post_the_period_again(new_trial: Callable[[], Trial]) -> None:
    """The store is deleted after the post (or a new, empty one is used): the next run finds the digest
    in the channel by its metadata marker before running the agents, posts nothing and exits 3;
    `--force` then edits that message in place (the digest was adopted into the new store)."""
    trial = new_trial()
    first = trial.start("run", "--no-fetch", *DAYS, name="first").wait(timeout=120)
    store = trial.root / "data" / "digestbot.sqlite"
    for path in store.parent.glob("digestbot.sqlite*"):
        path.unlink()
    with ItemStore(trial.env["DATABASE_URL"]):
        pass  # a new, empty store (as after switching SQLite for PostgreSQL)
    again = trial.start("run", *DAYS, name="again").wait(timeout=120)
    forced = trial.start("post", "--last", "--force", name="forced").wait(timeout=120)

    expected = (0, 3, 0, 1, 1, 1, True, False)
    assert expected == (
        first,
        again,
        forced,
        len(trial.top_level()),
        len(trial.slack.calls("chat.postMessage")),
        len(trial.slack.calls("chat.update")),
        "found in the channel" in trial.log("again"),
        "classify" in trial.log("again"),  # refused before the agents ran
    ), trial.log("again") + trial.log("forced")


def test_a_period_that_has_not_happened_is_refused_in_one_line_and_never_recorded(stack: Stack) -> None:
    """`run` for a week a month ahead exits 2 with one line and records nothing, so that week's real
    digest still posts later; a dry run of it only warns; `--from 9999-12-25` is one line, no traceback."""
    ahead = date.today() + timedelta(days=30)
    week = ["--from", ahead.isoformat(), "--to", (ahead + timedelta(days=6)).isoformat()]
    future = stack.cli("run", *week)
    dry = stack.cli("run", "--dry-run", *week)
    far = stack.cli("run", "--from", "9999-12-25")
    farther = stack.cli("run", "--from", "9999-12-25", "--to", "9999-12-31")

    errors = [
        line for r in (future, far, farther) for line in r.stderr.splitlines() if line.startswith("error:")
    ]
    expected = ((2, 0, 2, 2), 3, (None, None, None), [], [], True)
    assert expected == (
        (future.exit_code, dry.exit_code, far.exit_code, farther.exit_code),
        len(errors),
        tuple(
            r.exception if not isinstance(r.exception, SystemExit) else None for r in (future, far, farther)
        ),
        stack.posts(),
        posts_in_store(stack),
        "warning: the period" in dry.stderr,
    ), "\n".join(errors)


def posts_in_store(stack: Stack) -> list[tuple[str, str]]:
    with ItemStore(stack.settings().store_url) as store:
        digest_posts.create(store.engine, checkfirst=True)
        return [(p.channel, p.period) for p in recent_posts(store.engine)]


def test_a_worker_whose_clock_jumped_ahead_posts_no_future_week(stack: Stack) -> None:
    """The weekly job fired by a clock a year ahead: outcome `failed`, nothing posted or recorded as
    posted, one admin alert saying why; a host clock ahead of Slack's is caught by Slack's own clock
    (the `Date` of its answer) before anything is posted."""
    settings = stack.settings()
    alerts: list[str] = []
    jumped = datetime.now(UTC) + timedelta(days=365)
    runtime = JobRuntime(
        ConfigHolder(lambda: settings), now=lambda: jumped, notify_admin=lambda _, m: alerts.append(m)
    )
    outcome = run_weekly(settings, weekly_window(settings, jumped), runtime)

    later = Window(jumped - timedelta(days=7), jumped)
    digest = dataclasses.replace(representative_digest(), window=later)
    with pytest.raises(FuturePeriod) as slack_says:
        deliver(digest, settings, settings.store_url, now=lambda: jumped)  # this host believes it is later

    expected = ("failed", 1, [], [], True)
    assert expected == (
        outcome,
        len(alerts),
        stack.posts(),
        posts_in_store(stack),
        "ends after today" in str(slack_says.value),
    ), alerts


def shared_charts(trial: Trial) -> list[dict[str, object]]:
    """Files shared into the digest's thread (files.completeUploadExternal), oldest first."""
    return [m for m in trial.slack.messages(CHANNEL_ID) if m.get("files") and m.get("thread_ts")]


@pytest.mark.slow
def test_the_trends_chart_lost_to_a_kill_after_the_post_is_uploaded_by_the_next_command(
    stack: Stack, new_trial: Callable[[], Trial]
) -> None:
    """`digestbot run` killed (SIGKILL) while the chart upload hangs, after the digest was posted and
    recorded: the next `post --last` is refused as already posted (exit 3) but uploads the chart owed
    to that digest, once; a second `post --last` uploads nothing more."""
    trial = new_trial()
    stack.configure(llm_model="")  # trends on: a weekly digest gets its chart in the thread
    trial.slack.fault("stall_after", method="files.getUploadURLExternal")
    run = trial.start("run", "--no-fetch", *DAYS)
    wait_until(lambda: bool(trial.slack.calls("files.getUploadURLExternal")), timeout=120, what="the upload")
    run.kill()
    run.wait(timeout=30)
    trial.slack.release()
    lost = len(shared_charts(trial))

    retried = trial.start("post", "--last", name="retried").wait(timeout=120)
    again = trial.start("post", "--last", name="again").wait(timeout=120)

    expected = (0, 3, 3, 1, 1, 1)
    assert expected == (
        lost,
        retried,
        again,
        len(shared_charts(trial)),
        len(trial.top_level()),
        len(trial.slack.calls("chat.postMessage")),
    ), trial.log("retried")


@pytest.mark.slow
def test_a_rerun_after_a_crash_mid_post_adopts_the_post_without_editing_it(
    new_trial: Callable[[], Trial],
) -> None:
    """Killed between the post and its record (the post landed, its answer never came): the re-run
    (a new `generated_at`, the same content) adopts the message and edits nothing (chat.update 0)."""
    trial = new_trial()
    trial.slack.fault("stall_after", method="chat.postMessage")
    run = trial.start("run", "--no-fetch", *DAYS)
    wait_until(lambda: bool(trial.slack.calls("chat.postMessage")), timeout=120, what="the post")
    run.kill()
    run.wait(timeout=30)
    trial.slack.release()

    rerun = trial.start("run", "--no-fetch", *DAYS, name="rerun").wait(timeout=120)

    expected = (0, 1, 1, 0)
    assert expected == (
        rerun,
        len(trial.top_level()),
        len(trial.slack.calls("chat.postMessage")),
        len(trial.slack.calls("chat.update")),
    ), trial.log("rerun")


def test_a_script_tag_in_a_title_is_inert_in_digest_md(stack: Stack) -> None:
    """A title carrying `<script>`, `<img onerror>` and a Markdown link reaches digest.md as text only."""
    hostile = '<script>alert("x")</script> LLM <img src=x onerror=alert(1)> [click](https://evil.example)'
    stack.set_arxiv([arxiv_entry(1, hostile)])

    outcome = stack.run(dry_run=True)

    markdown = outcome.outputs["markdown"].read_text(encoding="utf-8")
    expected = ([], True)
    assert expected == (
        [s for s in ("<script", "<img", "](https://evil.example)") if s in markdown],
        "&lt;script&gt;" in markdown,
    ), markdown
