"""`digestbot post --last`: (re-)send the last saved digest to Slack, once per channel and period."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from digestbot.cli import settings_or_exit
from digestbot.digest_json import LATEST, DigestFileError, digests_dir, read_digest

EXIT_FAILED = 1  # Slack or the store failed; the digest is kept
EXIT_REFUSED = 3  # already posted for this channel and period (use --force)


def register(app: typer.Typer) -> None:
    @app.command("post")
    def post(
        last: Annotated[
            bool, typer.Option("--last", help="Send the last saved digest (data/digests/latest.json).")
        ] = False,
        digest_file: Annotated[
            Path | None, typer.Option("--digest", help="Send this saved digest JSON instead.")
        ] = None,
        force: Annotated[bool, typer.Option("--force", help="Update the message if already posted.")] = False,
        channel: Annotated[
            str | None,
            typer.Option("--channel", help="Channel name or ID (default: slack.channel in the config)."),
        ] = None,
    ) -> None:
        """Post a saved digest to Slack; re-running updates nothing unless --force is given."""
        from digestbot.delivery import DeliveryRefused, deliver
        from digestbot.slack.errors import SlackDeliveryError
        from digestbot.store.schema import StoreError

        settings = settings_or_exit()
        if not last and digest_file is None:
            typer.secho(
                "say which digest to send: --last (the last saved one) or --digest PATH", fg="red", err=True
            )
            raise typer.Exit(2)
        path = digest_file or digests_dir(settings) / LATEST
        try:
            digest, stats = read_digest(path)
        except DigestFileError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(EXIT_FAILED) from None
        try:
            result = deliver(digest, settings, settings.store_url, force=force, channel=channel, stats=stats)
        except DeliveryRefused as exc:
            typer.secho(f"not posted: {exc}", fg="yellow", err=True)
            raise typer.Exit(EXIT_REFUSED) from None
        except (SlackDeliveryError, StoreError) as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            typer.secho(f"the digest is kept in {path}; re-send it with `digestbot post --last`", err=True)
            raise typer.Exit(EXIT_FAILED) from None
        verb = {"posted": "posted", "updated": "updated", "reconciled": "completed"}[result.action]
        where = result.permalink or f"{result.channel} (ts {result.ts[0]})"
        typer.secho(f"{verb} the {result.period} digest ({result.messages} message(s)): {where}", fg="green")
