"""`digestbot config check`: validate and print the effective configuration (secrets redacted)."""

from __future__ import annotations

import json

import typer

from digestbot.cli import settings_or_exit
from digestbot.settings import ConfigError


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)

    @config_app.command("check")
    def check() -> None:
        """Validate config/ and print the effective configuration with secrets redacted."""
        from digestbot.scheduler import check_settings_schedule

        settings = settings_or_exit()
        try:
            check_settings_schedule(settings)
        except ConfigError as exc:
            typer.secho(f"config error: {exc}", fg="red", err=True)
            raise typer.Exit(2) from None
        typer.echo(json.dumps(settings.effective(), ensure_ascii=False, indent=2))
        if settings.defaults_notice:
            typer.secho(settings.defaults_notice, fg="yellow", err=True)
        mode = "offline mode (heuristic agents)" if settings.offline else f"LLM: {settings.app.llm.model}"
        typer.secho(f"config OK: {len(settings.categories)} categories, {mode}", fg="green", err=True)

    app.add_typer(config_app, name="config")
