"""`digestbot sandbox`: local fakes of every service plus an env file, to try the real commands.

Named "sandbox" rather than "fakes" or "dev-env": it is a safe place to try every command that would
otherwise need accounts, and nothing in it reaches the outside.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

HELP_LINE = "Start local fakes of arXiv, Qiita, Zenn, Slack and an LLM, and write an env file for them."
QUIET_SECONDS = 15  # `sandbox slash` stops listening once nothing new arrived for this long
MARK = "# digestbot sandbox:"  # the first line of a file we wrote (safe to overwrite)
NEXT_STEPS = """\
next, in another terminal in this folder:
  source {env}
  digestbot config check --online       # every token and endpoint answers
  digestbot fetch --since 7d            # arXiv, Qiita and Zenn (the fakes) into {data}/
  digestbot run --dry-run               # the digest, written to {data}/digests/, not posted
  digestbot preview --open              # how it looks in Slack
  digestbot run                         # post it (to the fake Slack: shown here as it arrives)
  digestbot serve                       # the worker; then, in a third terminal (after `source {env}`):
  digestbot sandbox slash "/digest 3d"  # a slash command over Socket Mode, and what came back
  digestbot sandbox messages            # everything the fake Slack received (or GET {url}/sandbox/messages)
Ctrl-C stops the sandbox (and removes {env}).
"""


def _control(path: str, payload: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    import urllib.error
    import urllib.request

    base = os.environ.get("DIGESTBOT_SANDBOX_URL")
    if not base:
        typer.secho("DIGESTBOT_SANDBOX_URL is not set: run `source sandbox.env` first", fg="red", err=True)
        raise typer.Exit(2)
    if not base.startswith(("http://", "https://")):
        typer.secho(f"DIGESTBOT_SANDBOX_URL={base!r} is not an http URL", fg="red", err=True)
        raise typer.Exit(2)
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(  # noqa: S310 - an http(s) URL, checked above
        base + path, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - checked above
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read() or b"{}")
        typer.secho(f"sandbox: {answer.get('error', exc)}", fg="red", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.secho(
            f"sandbox at {base} is not running ({exc}): start `digestbot sandbox`", fg="red", err=True
        )
        raise typer.Exit(1) from None


def _line(event: dict[str, Any]) -> str:
    text = " ".join(str(event.get("text", "")).split())
    where = event.get("channel", "response_url")
    return f"slack ← {event['kind']} {where}: {text[:110] + '…' if len(text) > 110 else text}"


def _watch(received: Any, stop: threading.Event) -> None:
    seen = 0
    while not stop.wait(0.5):
        events = received()
        for event in events[seen:]:
            typer.echo(_line(event))
        seen = max(seen, len(events))


def _start(env_file: Path, data_dir: Path, *, llm: bool, force: bool) -> None:
    from digestbot.cli import settings_or_exit
    from digestbot.sandbox import env_file_text, running

    if env_file.exists() and not force and not env_file.read_text(errors="replace").startswith(MARK):
        typer.secho(
            f"{env_file} exists and is not a sandbox file: pass --force or --env-file PATH",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    settings = settings_or_exit()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with running(settings, llm=llm) as box:
        text = env_file_text(box.environ(data_dir.resolve()))
        env_file.write_text(text, encoding="utf-8")
        llm_url = box.llm.base_url if box.llm else "(as configured)"
        typer.echo(f"sandbox running: arXiv {box.arxiv.url}, Qiita/Zenn {box.feeds.base_url}")
        typer.echo(f"Slack {box.slack.api_url}, LLM {llm_url}; env written to {env_file}")
        typer.echo(NEXT_STEPS.format(env=env_file, data=data_dir, url=box.control_url))
        watcher = threading.Thread(target=_watch, args=(box.received, stop), daemon=True)
        watcher.start()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            stop.set()
        watcher.join(timeout=2)
        if env_file.exists() and env_file.read_text(encoding="utf-8") == text:
            env_file.unlink()
    typer.echo("sandbox stopped")


def register(app: typer.Typer) -> None:
    sandbox_app = typer.Typer(help=HELP_LINE)

    @sandbox_app.callback(invoke_without_command=True)
    def sandbox(
        ctx: typer.Context,
        env_file: Annotated[
            Path, typer.Option("--env-file", help="Where to write the `export` lines.")
        ] = Path("sandbox.env"),
        data_dir: Annotated[Path, typer.Option("--data-dir", help="The sandbox's store and digests.")] = Path(
            "sandbox-data"
        ),
        offline: Annotated[
            bool, typer.Option("--offline", help="No fake LLM: keep llm.model as configured.")
        ] = False,
        force: Annotated[
            bool, typer.Option("--force", help="Overwrite an env file we did not write.")
        ] = False,
    ) -> None:
        """Start local fakes of arXiv, Qiita, Zenn, Slack and an LLM, and write an env file for them."""
        if ctx.invoked_subcommand is not None:
            return
        _start(env_file, data_dir, llm=not offline, force=force)

    @sandbox_app.command("slash")
    def slash(text: Annotated[str, typer.Argument(help='e.g. "/digest 3d" or "/digest search RAG"')]) -> None:
        """Send a slash command to the running `digestbot serve` over the fake Socket Mode; print replies."""
        import time

        before = len(_control("/sandbox/messages"))
        answer = _control("/sandbox/slash", {"text": text})
        ack = (answer.get("ack") or {}).get("text", "") if answer.get("acked") else "(no acknowledgement)"
        typer.echo(f"ack: {ack}")
        quiet_since = time.monotonic()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and time.monotonic() - quiet_since < QUIET_SECONDS:
            events = _control("/sandbox/messages")
            for event in events[before:]:
                typer.echo(_line(event))
                quiet_since = time.monotonic()
            before = max(before, len(events))
            time.sleep(0.5)

    @sandbox_app.command("messages")
    def messages(
        as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON.")] = False,
    ) -> None:
        """Print everything the fake Slack received (posts, replies, ephemeral messages, responses)."""
        events = _control("/sandbox/messages")
        if as_json:
            typer.echo(json.dumps(events, ensure_ascii=False, indent=2))
            return
        for event in events:
            typer.echo(_line(event))

    app.add_typer(sandbox_app, name="sandbox")
