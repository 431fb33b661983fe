"""Fixtures of the reliability suite (the harness itself is in `harness.py`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from digestbot.testing.arxiv_server import FakeArxivServer
from digestbot.testing.feed_server import FeedServer
from digestbot.testing.openai_server import OpenAIServer
from digestbot.testing.slack_server import SlackServer
from reliability.harness import SECRET_ENV, FakeModel, Hang, Stack
from support.worker_env import Worker

OURS = ("DIGESTBOT_", "SLACK_", "DATABASE_URL", "OPENAI_", "ANTHROPIC_", "QIITA_")


@pytest.fixture
def refused_url() -> Iterator[str]:
    """An http URL on 127.0.0.1 whose port is bound but not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """All four fakes running, the config aimed at them, the standard items published."""
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    model = FakeModel()
    with (
        FakeArxivServer() as arxiv,
        FeedServer() as feeds,
        OpenAIServer(model) as llm,
        SlackServer() as slack,
    ):
        built = Stack(arxiv, feeds, llm, model, slack, tmp_path, monkeypatch)
        built.configure()
        built.publish()
        monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(built.config_dir))
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
        yield built
        for _, _, reply in model.rules:
            if isinstance(reply, Hang):
                reply.released.set()


@pytest.fixture
def start_worker(stack: Stack) -> Iterator[Callable[..., Worker]]:
    """`start(name, extra_env=None)`: a `digestbot serve` subprocess on the stack's config, its output in
    `<root>/<name>/serve.log`; killed at the end of the test if still running."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    env |= {"DIGESTBOT_CONFIG_DIR": str(stack.config_dir), "SLACK_BOT_TOKEN": stack.slack.token}
    started: list[Worker] = []

    def start(name: str, extra_env: Mapping[str, str] | None = None) -> Worker:
        folder = stack.root / name
        folder.mkdir()
        log = folder / "serve.log"
        with log.open("wb") as out:
            command = [sys.executable, "-m", "digestbot", "serve", "--grace", "10"]
            proc = subprocess.Popen(
                command, env=env | dict(extra_env or {}), cwd=folder, stdout=out, stderr=subprocess.STDOUT
            )
        started.append(Worker(proc, log))
        return started[-1]

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.kill()
