"""`digestbot config check`: validate everything a run loads, print the effective configuration."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)

    @config_app.command("check")
    def check(
        online: Annotated[
            bool,
            typer.Option(
                "--online", help="Also call Slack (auth.test, apps.connections.open) and the LLM once."
            ),
        ] = False,
    ) -> None:
        """Validate config/, categories, agent prompts, model and secrets; print the effective config.

        Every problem is printed on its own line (exit 2 if there is any); warnings do not fail.
        """
        import json

        from digestbot.config_check import check_config

        report = check_config()
        settings = report.settings
        if online and settings is not None:
            from digestbot.config_online import check_app_token, check_bot_token, check_llm

            for checked in (check_bot_token(settings), check_app_token(settings), check_llm(settings)):
                if checked.finding is not None:
                    report.findings.append(checked.finding)
                elif checked.ok:
                    typer.echo(checked.ok, err=True)
        if settings is not None and not report.errors:
            typer.echo(json.dumps(settings.effective(), ensure_ascii=False, indent=2))
        if report.errors:  # one line per problem, nothing else (the warnings can wait)
            for line in report.errors:
                typer.secho(f"config error: {line}", fg="red", err=True)
            raise typer.Exit(2)
        assert settings is not None  # no errors means the settings loaded
        for line in report.warnings:
            typer.secho(f"warning: {line}", fg="yellow", err=True)
        if settings.defaults_notice:  # no config/ folder: the defaults that ship with the package
            typer.secho(settings.defaults_notice, fg="yellow", err=True)
        mode = "offline mode (heuristic agents)" if settings.offline else f"LLM: {settings.app.llm.model}"
        typer.secho(f"config OK: {len(settings.categories)} categories, {mode}", fg="green", err=True)

    app.add_typer(config_app, name="config")
