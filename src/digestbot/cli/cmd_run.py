"""`digestbot run`: fetch what is new, run the agents, write the digest, and post it (unless --dry-run)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from digestbot.cli import settings_or_exit
from digestbot.cli.cmd_fetch import resolve_window
from digestbot.cli.cmd_post import EXIT_REFUSED
from digestbot.cli.console import console
from digestbot.cli.progress import PipelineProgress
from digestbot.cli.report import print_outcome
from digestbot.digest_json import LATEST, digests_dir
from digestbot.runner import RunError, run_digest
from digestbot.settings import ConfigError
from digestbot.sources import parse_source_names
from digestbot.store import StoreError


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Write the files and blocks.json; post nothing.")
        ] = False,
        since: Annotated[str | None, typer.Option("--since", help="How far back: 7d, 36h, 2w.")] = None,
        first: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
        last: Annotated[str | None, typer.Option("--to", help="Last day, inclusive.")] = None,
        category: Annotated[str | None, typer.Option("--category", help="Only this category id.")] = None,
        source: Annotated[str | None, typer.Option("--source", help="Comma-separated sources.")] = None,
        no_fetch: Annotated[
            bool, typer.Option("--no-fetch", help="Use only what is already stored.")
        ] = False,
        out: Annotated[
            Path | None, typer.Option("--out", help="Output folder (default: data/digests/…).")
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Update a digest already posted for this period.")
        ] = False,
    ) -> None:
        """Make this week's digest: fetch, classify, summarize, judge, compose, post."""
        from digestbot.delivery import DeliveryRefused
        from digestbot.posting_guard import FuturePeriod, check_not_future
        from digestbot.slack.errors import SlackDeliveryError

        settings = settings_or_exit()
        try:
            window = resolve_window(settings, since, first, last)
            try:
                check_not_future(window, datetime.now(UTC), settings.app.general.timezone)
            except FuturePeriod as exc:
                if not dry_run:
                    raise ValueError(str(exc)) from None
                typer.secho(f"warning: {exc}; this dry run posts nothing", fg="yellow", err=True)
            names = parse_source_names(source) if source else None
            if category is not None:
                settings.category(category)
            if not dry_run and settings.secrets.slack_bot_token is None:
                raise ConfigError(
                    "SLACK_BOT_TOKEN is not set: put the bot token (xoxb-…) in the environment or in .env, "
                    "or use --dry-run to make the digest without posting it"
                )
        except (ValueError, ConfigError) as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(2) from None
        err = console(stderr=True)
        mode = "offline mode (heuristic agents)" if settings.offline else settings.app.llm.model
        err.print(f"digest {window.label(settings.app.general.timezone)} · {mode}", highlight=False)
        try:
            with PipelineProgress(err) as progress:
                outcome = run_digest(
                    settings,
                    window,
                    fetch=not no_fetch,
                    source_names=names,
                    dry_run=dry_run,
                    force=force,
                    only_category=category,
                    out_dir=out,
                    on_progress=progress,
                )
        except ConfigError as exc:  # e.g. a model without its API key, or a broken agent file
            typer.secho(f"config error: {exc}", fg="red", err=True)
            raise typer.Exit(2) from None
        except (RunError, StoreError) as exc:
            typer.secho(f"run failed: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
        except DeliveryRefused as exc:
            typer.secho(f"not posted: {exc}", fg="yellow", err=True)
            raise typer.Exit(EXIT_REFUSED) from None
        except SlackDeliveryError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            kept = digests_dir(settings) / LATEST
            typer.secho(f"the digest is kept in {kept}; re-send it with `digestbot post --last`", err=True)
            raise typer.Exit(1) from None
        print_outcome(outcome)
        for row in outcome.ingest.rows if outcome.ingest is not None else []:
            for warning in row.warnings:  # e.g. a feed malformed but usable, bad bytes in one entry
                typer.secho(f"warning: {row.source.value}: {warning}", fg="yellow", err=True)
        if outcome.ingest is not None and outcome.ingest.failed:
            names_failed = ", ".join(r.source.value for r in outcome.ingest.failed)
            typer.secho(
                f"warning: fetch failed for {names_failed}; the digest says so.", fg="yellow", err=True
            )
