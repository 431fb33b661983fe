"""`digestbot serve` end to end: real worker processes against local Slack and Socket Mode servers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from typer.testing import CliRunner

from digestbot import jobs
from digestbot.cli import app as cli
from digestbot.config_reload import ConfigHolder
from digestbot.delivery import deliver, period_key
from digestbot.runner import run_digest
from digestbot.serve import serve
from digestbot.settings import Settings, load_settings
from digestbot.slack.commands import COMMAND
from digestbot.slack.errors import SlackDeliveryError
from digestbot.store import ItemStore
from digestbot.store import digests as posts
from digestbot.store.schema import open_engine
from digestbot.testing.slack_server import SlackServer
from digestbot.testing.socket_mode_server import SocketModeServer
from support.worker_env import (
    EVERY_SECOND,
    OURS,
    Worker,
    sample_items,
    stop_all,
    wait_until,
    worker_environ,
    write_config,
)

ROOT = Path(__file__).resolve().parents[1]
CHANNEL_ID = "C0DIGEST01"


@pytest.fixture
def servers() -> Iterator[tuple[SlackServer, SocketModeServer]]:
    with SlackServer() as slack, SocketModeServer() as socket:
        slack.socket_mode_url = socket.url
        yield slack, socket


@pytest.fixture
def worker_env(
    servers: tuple[SlackServer, SocketModeServer], store_url: str, tmp_path: Path
) -> dict[str, str]:
    """A config with the weekly digest due every second, yesterday's papers in the store."""
    slack, _ = servers
    folder = write_config(tmp_path / "config", ROOT / "config" / "categories.toml", weekly=EVERY_SECOND)
    env = worker_environ(
        folder, tmp_path / "data", store_url, slack.api_url, bot_token=slack.token, app_token=slack.app_token
    )
    with ItemStore(store_url) as store:
        store.upsert(sample_items(datetime.now(UTC) - timedelta(days=1)))
    return {**{k: v for k, v in os.environ.items() if not k.startswith(OURS)}, **env}


@pytest.fixture
def start_worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[str], Worker]]:
    started: list[Worker] = []

    def start(name: str) -> Worker:
        folder = tmp_path / name
        folder.mkdir()
        log = folder / "serve.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "digestbot", "serve", "--grace", "10"],
                env=worker_env,
                cwd=folder,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(proc, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.kill()


def parents(slack: SlackServer) -> list[dict[str, Any]]:
    return [m for m in slack.messages(CHANNEL_ID) if "thread_ts" not in m]


def periods(slack: SlackServer) -> list[str]:
    return sorted(m["metadata"]["event_payload"]["period"] for m in parents(slack))


def weekly_period() -> str:
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo")).date()
    return f"{today - timedelta(days=7)}..{today - timedelta(days=1)}"


def test_two_workers_post_the_weekly_digest_once_and_answer_digest_3d(
    servers: tuple[SlackServer, SocketModeServer], start_worker: Callable[[str], Worker]
) -> None:
    """Two workers, one database: one weekly post; /digest 3d acked in 3 s and delivered; clean SIGTERM."""
    slack, socket = servers
    first, second = start_worker("first"), start_worker("second")  # Slack sends a command to one connection
    assert socket.wait_connected(timeout=30), first.output + second.output
    envelope = socket.slash_command("3d", response_url=slack.response_url("a"))
    ack = socket.wait_ack(envelope, timeout=3.0)
    both_tried = wait_until(
        lambda: all(
            "already posted" in w.output or "another worker is running it" in w.output
            for w in (first, second)
        ),
        timeout=40,
    )
    delivered = wait_until(lambda: len(parents(slack)) == 2, timeout=30)
    codes = stop_all(first, second)
    assert (True, True, True) == (ack is not None, both_tried, delivered), first.output + second.output
    assert ack is not None and ack.payload is not None
    assert str(ack.payload["text"]).startswith("生成中…（直近3日・全カテゴリ）")
    assert ([weekly_period(), True], (0, 0)) == (
        [periods(slack)[0], periods(slack)[1].endswith("#ondemand-3d")],
        codes,
    )
    assert "stopped" in first.output and "を投稿しました" in slack.responses("a")[-1]["text"]


def test_worker_killed_around_the_scheduled_time_posts_once_after_restart(
    servers: tuple[SlackServer, SocketModeServer], start_worker: Callable[[str], Worker], store_url: str
) -> None:
    """SIGKILL after the post reached Slack, before its answer: the restarted worker adopts it, no repost."""
    slack, _ = servers
    slack.fault("stall_after", method="chat.postMessage")  # the post lands; its answer never arrives
    first = start_worker("first")
    assert wait_until(lambda: bool(slack.calls("chat.postMessage")), timeout=40), first.output
    first.kill()
    slack.release()
    second = start_worker("second")
    settled = wait_until(lambda: "already posted" in second.output, timeout=40)
    code = second.stop()
    engine = open_engine(store_url)
    try:
        post = posts.find_post(engine, "#llm-digest", weekly_period())
    finally:
        engine.dispose()
    assert post is not None
    reconciled = "finished an interrupted delivery" in second.output
    assert (True, True, 0, [weekly_period()], "posted") == (
        settled,
        reconciled,
        code,
        periods(slack),
        post.status,
    ), second.output


@pytest.fixture
def settings(servers: tuple[SlackServer, SocketModeServer], store_url: str, tmp_path: Path) -> Settings:
    slack, _ = servers
    folder = write_config(tmp_path / "config", ROOT / "config" / "categories.toml")
    env = worker_environ(folder, tmp_path / "data", store_url, slack.api_url, bot_token=slack.token)
    with ItemStore(store_url) as store:
        store.upsert(sample_items(datetime.now(UTC) - timedelta(days=1)))
    return load_settings(folder, env, env_file=tmp_path / "no.env")


async def test_serve_finishes_an_interrupted_delivery_at_start(
    settings: Settings, servers: tuple[SlackServer, SocketModeServer]
) -> None:
    """A post that reached Slack before the worker died is adopted at start, not posted again."""
    slack, _ = servers
    window = jobs.weekly_window(settings, datetime.now(UTC))
    digest = (await asyncio.to_thread(run_digest, settings, window, fetch=False, dry_run=True)).digest
    slack.fault("disconnect_after", method="chat.postMessage")
    with pytest.raises(SlackDeliveryError):
        await asyncio.to_thread(deliver, digest, settings, settings.store_url, sleep=lambda _: None)
    stop = asyncio.Event()
    try:
        result = await serve(ConfigHolder(lambda: settings), stop, on_ready=stop.set, grace_seconds=10)
    finally:
        jobs.configure(None)
    engine = open_engine(settings.store_url)
    try:
        post = posts.find_post(engine, "#llm-digest", period_key(window))
    finally:
        engine.dispose()
    assert post is not None
    assert (0, 1, "posted") == (result.abandoned, len(parents(slack)), post.status)


def test_serve_without_a_bot_token_says_what_to_set(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No SLACK_BOT_TOKEN: exit 1 with the variable to set, before anything starts."""
    for name in list(os.environ):
        if name.startswith(OURS):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(settings.config_dir))
    monkeypatch.setenv("DATABASE_URL", settings.store_url)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["serve"])
    assert (1, True) == (result.exit_code, "SLACK_BOT_TOKEN is not set" in result.output)


@pytest.mark.parametrize(
    ("variable", "says"),
    [
        ("SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN: Slack auth.test refused it (invalid_auth)"),
        ("SLACK_APP_TOKEN", "SLACK_APP_TOKEN: Slack apps.connections.open refused it (invalid_auth)"),
    ],
)
def test_serve_with_a_wrong_token_exits_2_before_ready(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, says: str
) -> None:
    """A refused bot or app token: one line naming it, exit 2, and the worker never says "ready"."""
    for name in list(os.environ):
        if name.startswith(OURS):
            monkeypatch.delenv(name)
    with SlackServer() as slack:
        monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(settings.config_dir))
        monkeypatch.setenv("DATABASE_URL", settings.store_url)
        monkeypatch.setenv("DIGESTBOT_SLACK_API_URL", slack.api_url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
        monkeypatch.setenv("SLACK_APP_TOKEN", slack.app_token)
        monkeypatch.setenv(variable, "xoxb-wrong" if variable == "SLACK_BOT_TOKEN" else "xapp-wrong")
        monkeypatch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["serve"])
    lines = result.output.strip().splitlines()
    assert (2, 1, True) == (result.exit_code, len(lines), says in lines[0]), result.output


def test_serve_with_an_unreachable_database_says_so(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """DATABASE_URL pointing nowhere: exit 1 naming the store (password hidden), no traceback."""
    for name in list(os.environ):
        if name.startswith(OURS):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(settings.config_dir))
    monkeypatch.setenv("DATABASE_URL", "postgres://bot:secret@127.0.0.1:9/digest?connect_timeout=2")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["serve"])
    assert (1, True, False) == (
        result.exit_code,
        "cannot open the store (postgresql+psycopg://bot:***@127.0.0.1:9/" in result.output,
        "secret" in result.output,
    )


def test_procfile_and_manifest_match_the_worker() -> None:
    """The Procfile runs `digestbot serve`; the manifest declares /digest and Socket Mode."""
    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yml").read_text(encoding="utf-8"))
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert ("worker: digestbot serve\n", [COMMAND], True) == (
        (ROOT / "Procfile").read_text(encoding="utf-8"),
        commands,
        manifest["settings"]["socket_mode_enabled"],
    )
    assert {"chat:write", "commands", "channels:history", "channels:read"} <= scopes
