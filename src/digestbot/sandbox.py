"""`digestbot sandbox`: every outside service on 127.0.0.1, so the real commands run with no account.

It starts the same local fakes the tests use: arXiv (the 18 bundled real papers, re-dated into the
last week), Qiita and Zenn (generated articles for the configured tags and topics, feeds and JSON
API), Slack (Web API and Socket Mode) and an OpenAI-compatible model (`SimulatedLLM`, deterministic).
It writes an env file of `export` lines pointing every endpoint at them, and serves a small control
API for what a workspace would show:

- `GET  /sandbox/messages`: everything the fake Slack received (posts, thread replies, ephemeral
  messages, slash-command responses), in order;
- `POST /sandbox/slash` `{"text": "/digest 3d"}`: a slash command sent over Socket Mode to the
  connected `digestbot serve` (409 when none is connected), with the app's acknowledgement.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from digestbot.demo import arxiv_entries
from digestbot.settings import Settings
from digestbot.testing.arxiv_server import ArxivEntry, FakeArxivServer
from digestbot.testing.feed_builders import synthetic_qiita_items, synthetic_zenn_articles
from digestbot.testing.feed_server import FeedServer
from digestbot.testing.openai_server import OpenAIServer, schema_name
from digestbot.testing.simulated_llm import SimulatedLLM
from digestbot.testing.slack_server import SlackServer
from digestbot.testing.socket_mode_server import SocketModeServer

SANDBOX_MODEL = "openai:sandbox-simulated"  # the name the fake LLM is asked for (any name works)
ACK_SECONDS = 10.0
CHANNEL_IDS = ("C0DIGEST01", "C0ADMIN002")


def recent_arxiv(now: datetime) -> list[ArxivEntry]:
    """The bundled papers with their dates moved so the newest is 6 hours old (order kept)."""
    entries = arxiv_entries()
    dates = [datetime.fromisoformat(str(e["published"]).replace("Z", "+00:00")) for e in entries]
    shift = now - timedelta(hours=6) - max(dates)
    moved: list[ArxivEntry] = []
    for entry, published in zip(entries, dates, strict=True):
        new = published + shift
        moved.append({**entry, "published": new, "updated": new})
    return moved


@dataclass(frozen=True)
class Sandbox:
    """The running fakes; `environ` is what the env file exports."""

    arxiv: FakeArxivServer
    feeds: FeedServer
    slack: SlackServer
    socket: SocketModeServer
    llm: OpenAIServer | None
    control_url: str
    channels: dict[str, str]  # channel name -> id in the fake workspace
    log: list[dict[str, Any]] = field(default_factory=list)
    seen: set[tuple[str, ...]] = field(default_factory=set)
    log_lock: threading.Lock = field(default_factory=threading.Lock)

    def environ(self, data_dir: Path) -> dict[str, str]:
        env = {
            "DIGESTBOT_ARXIV_API_URL": self.arxiv.url,
            "DIGESTBOT_QIITA_BASE_URL": self.feeds.base_url,
            "DIGESTBOT_ZENN_BASE_URL": self.feeds.base_url,
            "DIGESTBOT_SLACK_API_URL": self.slack.api_url,
            "SLACK_BOT_TOKEN": self.slack.token,
            "SLACK_APP_TOKEN": self.slack.app_token,
            "DIGESTBOT_DATA_DIR": str(data_dir),
            "DATABASE_URL": "",  # the sandbox's own SQLite store in DIGESTBOT_DATA_DIR
            "DIGESTBOT_SANDBOX_URL": self.control_url,
        }
        if self.llm is not None:
            env |= {
                "DIGESTBOT_LLM_MODEL": SANDBOX_MODEL,
                "DIGESTBOT_LLM_BASE_URL": self.llm.base_url,
                "DIGESTBOT_LLM_API_KEY": "sandbox-no-key",
            }
        return env

    def received(self) -> list[dict[str, Any]]:
        """What the fake Slack received, in the order this sandbox first saw it (an append-only log)."""
        with self.log_lock:
            for key, event in self._snapshot():
                if key not in self.seen:
                    self.seen.add(key)
                    self.log.append(event)
            return list(self.log)

    def _snapshot(self) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
        found: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        for name, channel_id in self.channels.items():
            for message in self.slack.messages(channel_id):
                kind = "reply" if "thread_ts" in message else "message"
                text = message.get("text") or ("(a file)" if message.get("files") else "")
                event = {"kind": kind, "channel": f"#{name}", "text": text, **_ts(message)}
                found.append(((kind, channel_id, str(message.get("ts"))), event))
        for n, m in enumerate(self.slack.ephemeral()):
            found.append(
                (
                    ("ephemeral", str(n)),
                    {"kind": "ephemeral", "channel": m["channel"], "text": m.get("text", "")},
                )
            )
        for n, r in enumerate(self.slack.responses()):
            found.append(
                (
                    ("response", str(n)),
                    {"kind": "response", "text": r.get("text", ""), "blocks": r.get("blocks", [])},
                )
            )
        return found

    def slash(self, text: str) -> tuple[int, dict[str, Any]]:
        command, _, rest = text.strip().partition(" ")
        if not command.startswith("/"):
            command, rest = "/digest", text.strip()
        if not self.socket.wait_connected(timeout=0.5):
            return 409, {"error": "no `digestbot serve` is connected: start it with the sandbox env first"}
        envelope = self.socket.slash_command(
            rest, command=command, response_url=self.slack.response_url(command)
        )
        ack = self.socket.wait_ack(envelope, timeout=ACK_SECONDS)
        return 200, {"envelope_id": envelope, "acked": ack is not None, "ack": ack.payload if ack else None}


def _answering_plain_text(simulated: SimulatedLLM) -> Callable[[dict[str, Any]], dict[str, Any] | str]:
    """SimulatedLLM answers the agents' schemas; a plain request (`config check --online`) gets "OK"."""

    def respond(request: dict[str, Any]) -> dict[str, Any] | str:
        return "OK" if schema_name(request) is None else simulated(request)

    return respond


def _ts(message: dict[str, Any]) -> dict[str, Any]:
    return {key: message[key] for key in ("ts", "thread_ts") if key in message}


def _control_handler(sandbox: Callable[[], Sandbox]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, payload: Any) -> None:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/sandbox/messages":
                self._send(200, sandbox().received())
            else:
                self._send(404, {"error": "try GET /sandbox/messages or POST /sandbox/slash"})

        def do_POST(self) -> None:
            if self.path != "/sandbox/slash":
                self._send(404, {"error": 'try POST /sandbox/slash {"text": "/digest 3d"}'})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                text = str(json.loads(self.rfile.read(length) or b"{}").get("text", ""))
            except (ValueError, AttributeError):
                self._send(400, {"error": 'send JSON: {"text": "/digest 3d"}'})
                return
            self._send(*sandbox().slash(text))

    return Handler


@contextmanager
def running(settings: Settings, *, llm: bool = True, now: datetime | None = None) -> Iterator[Sandbox]:
    """Start every fake with sample data for `settings` (its tags, topics, channels, categories)."""
    moment = now or datetime.now(UTC)
    sources = settings.app.sources
    channels = {settings.app.slack.channel.removeprefix("#"): CHANNEL_IDS[0]}
    if admin := settings.app.slack.admin_channel:
        channels.setdefault(admin.removeprefix("#"), CHANNEL_IDS[1])
    with ExitStack() as stack:
        arxiv = stack.enter_context(FakeArxivServer(recent_arxiv(moment)))
        feeds = stack.enter_context(FeedServer())
        tags = list(sources.qiita.tags) or ["LLM"]
        feeds.publish_qiita(synthetic_qiita_items(24, seed=1, end=moment, days=6, tags=tags), tags=tags)
        topics = [t.lower() for t in sources.zenn.topics] or ["llm"]
        feeds.publish_zenn(
            synthetic_zenn_articles(24, seed=2, end=moment, days=6, topics=topics), topics=topics
        )
        slack = stack.enter_context(SlackServer(channels=channels))
        socket = stack.enter_context(SocketModeServer())
        slack.socket_mode_url = socket.url
        model = None
        if llm:
            keywords = {c.id: [*c.keywords_en, *c.keywords_ja, c.name] for c in settings.categories}
            model = stack.enter_context(OpenAIServer(_answering_plain_text(SimulatedLLM(keywords))))
        holder: list[Sandbox] = []
        control = ThreadingHTTPServer(("127.0.0.1", 0), _control_handler(lambda: holder[0]))
        thread = threading.Thread(target=control.serve_forever, args=(0.1,), name="sandbox", daemon=True)
        thread.start()
        stack.callback(control.server_close)
        stack.callback(control.shutdown)
        port = control.server_address[1]
        holder.append(Sandbox(arxiv, feeds, slack, socket, model, f"http://127.0.0.1:{port}", channels))
        yield holder[0]


def env_file_text(environ: dict[str, str]) -> str:
    lines = ["# digestbot sandbox: local fakes on 127.0.0.1 (valid while `digestbot sandbox` runs)"]
    lines += [f"export {name}={_shell_quote(value)}" for name, value in environ.items()]
    return "\n".join(lines) + "\n"


def read_env_file(path: Path) -> dict[str, str]:
    """The `export NAME=value` lines of a sandbox env file (for `digestbot sandbox slash` and tests)."""
    import shlex

    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = "".join(shlex.split(value)) if value else ""
    return found


def _shell_quote(value: str) -> str:
    import shlex

    return shlex.quote(value) if value else "''"
