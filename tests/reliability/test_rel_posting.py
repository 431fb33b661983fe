"""One digest per (channel, period) from every path, whatever the store or the clock says.

Two `digestbot run` processes for one period at once (20 trials), the store deleted between two runs,
a period that has not happened, the trends chart lost to a crash between the post and its upload, and
a re-run after a crash that must not edit what is already right. Runs go through the real CLI
(subprocesses where two processes or a kill are the point) against the local Slack server; the
assertions read what that server received.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from digestbot.domain import Item
from digestbot.store import ItemStore
from digestbot.testing.slack_server import SlackServer
from reliability.harness import CHANNEL_ID, DAYS, Stack, wait_until

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
    in the channel by its metadata marker, posts nothing and exits 3; `--force` then edits that
    message in place (the digest was adopted into the new store)."""
    trial = new_trial()
    first = trial.start("run", "--no-fetch", *DAYS, name="first").wait(timeout=120)
    store = trial.root / "data" / "digestbot.sqlite"
    for path in store.parent.glob("digestbot.sqlite*"):
        path.unlink()
    with ItemStore(trial.env["DATABASE_URL"]):
        pass  # a new, empty store (as after switching SQLite for PostgreSQL)
    again = trial.start("run", *DAYS, name="again").wait(timeout=120)
    forced = trial.start("post", "--last", "--force", name="forced").wait(timeout=120)

    expected = (0, 3, 0, 1, 1, 1, True)
    assert expected == (
        first,
        again,
        forced,
        len(trial.top_level()),
        len(trial.slack.calls("chat.postMessage")),
        len(trial.slack.calls("chat.update")),
        "found in the channel" in trial.log("again"),
    ), trial.log("again") + trial.log("forced")
