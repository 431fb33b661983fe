"""`digestbot` command line. Each `cmd_<name>.py` module here adds its commands via `register(app)`.

The modules are imported only when their command runs: `digestbot --help` lists the commands from
`HELP` below without importing any of them, so it starts without loading the pipeline (langgraph,
langchain, SQLAlchemy). A `cmd_*.py` module missing from `HELP` still works; it is imported to list
it (slower), and `tests/test_cli_startup.py` says so.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from digestbot.settings import Settings

# command -> the one-line help `digestbot --help` shows (the first line of the command's docstring)
HELP: dict[str, str] = {
    "init": "Write editable copies of the default config/ and agents/ into FOLDER; existing files are kept.",
    "demo": "Run everything offline on sample data (no network, no keys) and print the digest.",
    "sandbox": "Start local fakes of arXiv, Qiita, Zenn, Slack and an LLM, and write an env file for them.",
    "fetch": "Fetch new papers and articles into the store (default window: general.default_window_days).",
    "run": "Make this week's digest: fetch, classify, summarize, judge, compose, post.",
    "preview": "Write an HTML preview of the digest as Slack would show it (the thread replies included).",
    "post": "Post a saved digest to Slack; re-running updates nothing unless --force is given.",
    "serve": "Run the worker: scheduled fetches, the weekly digest, and /digest in Slack (Socket Mode).",
    "trends": "Print the weekly table of kept items per category (posted digests) and save the chart.",
    "feedback": "Summarize the team's votes, and show the examples the judge currently gets as guidance.",
    "search": "Search the archive of posted digests (title, blurb, tags, category).",
    "eval": "Classify, summarize and judge labeled papers; print accuracy, macro-F1 and blurb statistics.",
    "config": "Inspect the configuration.",
}


def command_modules() -> list[str]:
    """The command names of the `cmd_<name>.py` modules, found without importing them."""
    return sorted(
        m.name.removeprefix("cmd_") for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_")
    )


class LazyGroup(TyperGroup):
    """Imports `cmd_<name>` when `<name>` runs; the command list in `--help` comes from `HELP`."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        found = command_modules()
        return [*(n for n in HELP if n in found), *(n for n in found if n not in HELP)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if self._listing and cmd_name in HELP:
            return TyperCommand(cmd_name, help=HELP[cmd_name])  # a stand-in, only for the listing
        if cmd_name not in command_modules():
            return None
        registry = typer.Typer()
        importlib.import_module(f"{__name__}.cmd_{cmd_name}").register(registry)
        for name, command in typer.main.get_group(registry).commands.items():
            self.commands[name] = _plain_flags(command, ctx)
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        _plain_flags(self, ctx)
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def _plain_flags(command: Any, ctx: Any) -> Any:
    """No `<bool>` type column after `--dry-run`, `--help` and the other flags in `--help` (typer 0.29
    shows the type of every option, flags included; an empty metavar is typer's way to show none)."""
    for param in command.get_params(ctx):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _plain_flags(sub, ctx)
    return command


app = typer.Typer(
    name="digestbot",
    help="LLM research digest bot: fetch arXiv/Qiita/Zenn, summarize in Japanese, post to Slack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=LazyGroup,
)


@app.callback()
def _root() -> None:
    """The commands are added by `LazyGroup` (a group needs a callback when it registers none itself)."""


def guarded_settings() -> Settings:
    """Load the configuration and scrub its secret values from every log record from now on."""
    from digestbot.redaction import install
    from digestbot.settings import load_settings

    settings = load_settings()
    install(settings.scrubber)
    return settings


def settings_or_exit() -> Settings:
    """Load the configuration, or print the one-line problem and exit 2."""
    from digestbot.settings import ConfigError

    try:
        return guarded_settings()
    except ConfigError as exc:
        typer.secho(f"config error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def main() -> None:
    sys.exit(app())
