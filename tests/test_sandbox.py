"""`digestbot sandbox` end to end: the fakes start, and the README's next commands post a digest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digestbot.sandbox import read_env_file
from support.worker_env import OURS, wait_until

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copytree(ROOT / "agents", tmp_path / "agents")
    return tmp_path


@pytest.fixture
def base_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    return {**env, "DIGESTBOT_CONFIG_DIR": str(folder / "config"), "COLUMNS": "100"}


@pytest.fixture
def sandbox(folder: Path, base_env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = (folder / "sandbox.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "digestbot", "sandbox", "--offline"],
        cwd=folder,
        env=base_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    env_file = folder / "sandbox.env"
    try:
        assert wait_until(env_file.exists, 60), (folder / "sandbox.log").read_text()
        yield proc, env_file
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        log.close()


def _messages(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/sandbox/messages", timeout=10) as response:
        return list(json.loads(response.read()))


def test_next_commands_post_a_digest_and_answer_digest_3d(
    sandbox: tuple[subprocess.Popen[bytes], Path], folder: Path, base_env: dict[str, str]
) -> None:
    """fetch, run --dry-run, preview, run, serve + `sandbox slash "/digest 3d"`: all against the fakes."""
    proc, env_file = sandbox
    env = {**base_env, **read_env_file(env_file)}

    def digestbot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "digestbot", *args],
            check=False,
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    steps = [
        digestbot(*cmd)
        for cmd in (
            ["config", "check", "--online"],
            ["fetch", "--since", "7d"],
            ["run", "--dry-run"],
            ["preview"],
            ["run"],
        )
    ]
    assert [0, 0, 0, 0, 0] == [s.returncode for s in steps], [s.stderr[-800:] for s in steps]
    url = env["DIGESTBOT_SANDBOX_URL"]
    posted = [e for e in _messages(url) if e["kind"] == "message"]
    assert 1 == len(posted) and "LLMリサーチダイジェスト" in posted[0]["text"]

    log = (folder / "serve.log").open("wb")
    serve = subprocess.Popen(
        [sys.executable, "-m", "digestbot", "serve", "--grace", "5"],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        connected = wait_until(lambda: "/digest is on" in (folder / "serve.log").read_text(), 90)
        assert connected, (folder / "serve.log").read_text()
        slash = digestbot("sandbox", "slash", "/digest 3d")
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        log.close()
    assert (0, True) == (slash.returncode, "ack: 生成中" in slash.stdout), slash.stdout + slash.stderr
    after = [e for e in _messages(url) if e["kind"] == "message"]
    # the weekly digest just posted holds most of these 3 days: the answer says so (or posts nothing new)
    said = "に掲載済みです" in slash.stdout if len(after) == 2 else "と同じ内容なので" in slash.stdout
    assert (True, True) == (len(after) in (1, 2), said), slash.stdout

    proc.send_signal(signal.SIGTERM)
    assert (0, False) == (proc.wait(timeout=30), env_file.exists())  # stops cleanly, removes its env file
    assert "slack ← message #llm-digest: 📚 LLMリサーチダイジェスト" in (folder / "sandbox.log").read_text()


def test_an_existing_env_file_is_never_overwritten(folder: Path, base_env: dict[str, str]) -> None:
    """A user's file at --env-file is refused (exit 2) unless --force; nothing starts."""
    (folder / ".env").write_text("SLACK_BOT_TOKEN=xoxb-real\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "digestbot", "sandbox", "--env-file", ".env"],
        check=False,
        cwd=folder,
        env=base_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (2, "SLACK_BOT_TOKEN=xoxb-real\n") == (
        result.returncode,
        (folder / ".env").read_text(encoding="utf-8"),
    )
    assert ".env exists and is not a sandbox file" in result.stderr
