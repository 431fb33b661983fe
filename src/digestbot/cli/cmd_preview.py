"""`digestbot preview`: render a saved digest as an HTML page that looks like Slack, to check it first."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from digestbot.cli import settings_or_exit
from digestbot.digest_json import LATEST, DigestFileError, digests_dir, read_digest
from digestbot.domain import Digest
from digestbot.follows import Audience
from digestbot.settings import Settings

PREVIEW = "preview.html"


def _chart(digest: Digest, settings: Settings) -> bytes | None:
    """The trends chart the thread will carry, or None (no trends section, or it cannot be drawn)."""
    config = settings.app.trends
    if digest.trends is None or not config.chart_in_thread:
        return None
    from digestbot.chart import ChartError, digest_chart
    from digestbot.store import ItemStore, StoreError

    try:
        with ItemStore(settings.store_url) as store:
            return digest_chart(
                digest,
                store.engine,
                settings.categories,
                weeks=config.chart_weeks,
                tz=settings.app.general.timezone,
            )
    except (ChartError, StoreError) as exc:
        typer.secho(f"note: the preview has no chart: {exc}", fg="yellow", err=True)
        return None


def _audience(digest: Digest, settings: Settings) -> Audience | None:
    """Who each item is for (the 👀 line the weekly post will carry), from the store's follows."""
    from digestbot.delivery_plan import period_key
    from digestbot.follow_dm import follow_audience
    from digestbot.store import ItemStore, StoreError

    try:
        with ItemStore(settings.store_url) as store:
            period = period_key(digest.window, settings.app.general.timezone)
            return follow_audience(digest, settings, store.engine, period)
    except StoreError as exc:
        typer.secho(f"note: the preview shows no 👀 lines: {exc}", fg="yellow", err=True)
        return None


def register(app: typer.Typer) -> None:
    @app.command("preview")
    def preview(
        digest_file: Annotated[
            Path | None, typer.Option("--digest", help="A saved digest JSON (default: the last one).")
        ] = None,
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Where to write the page (default: data/digests/preview.html)."),
        ] = None,
        open_page: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
    ) -> None:
        """Write an HTML preview of the digest as Slack would show it (the thread replies included)."""
        from digestbot.slack.preview import render_preview
        from digestbot.slack.preview_report import appendix_html
        from digestbot.slack.render import render_digest

        settings = settings_or_exit()
        path = digest_file or digests_dir(settings) / LATEST
        try:
            digest, _stats = read_digest(path)
        except DigestFileError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
        tz = settings.app.general.timezone
        messages = render_digest(
            digest,
            tz=tz,
            votes=settings.app.feedback.buttons,
            fixes=settings.app.corrections.enabled,
            reasons=settings.app.slack.show_reason,
            audience=_audience(digest, settings),
            follow=settings.app.follow,
        )
        page = render_preview(
            messages,
            channel=settings.app.slack.channel,
            posted_at=digest.generated_at,
            tz=tz,
            chart_png=_chart(digest, settings),
            appendix=appendix_html(digest),
        )
        target = out or digests_dir(settings) / PREVIEW
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
        typer.echo(f"preview of {len(messages)} message(s) written to {target}")
        if open_page:
            webbrowser.open(target.resolve().as_uri())
