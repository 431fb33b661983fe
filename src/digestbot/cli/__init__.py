"""`digestbot` command line. Each `cmd_*.py` module in this package adds its commands via `register(app)`."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from digestbot.settings import ConfigError, Settings, load_settings

app = typer.Typer(
    name="digestbot",
    help="LLM research digest bot: fetch arXiv/Qiita/Zenn, summarize in Japanese, post to Slack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def settings_or_exit() -> Settings:
    """Load the configuration, or print the one-line problem and exit 2."""
    try:
        return load_settings()
    except ConfigError as exc:
        typer.secho(f"config error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def _register_commands() -> None:
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name.startswith("cmd_"):
            importlib.import_module(f"{__name__}.{module.name}").register(app)


_register_commands()


def main() -> None:
    sys.exit(app())
