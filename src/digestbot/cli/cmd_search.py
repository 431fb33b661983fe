"""`digestbot search <words>`: items of past posted digests, with links to those digests."""

from __future__ import annotations

from typing import Annotated

import typer

from digestbot.cli import settings_or_exit


def register(app: typer.Typer) -> None:
    @app.command("search")
    def search_command(
        words: Annotated[list[str], typer.Argument(help="Words that must all appear (English or Japanese).")],
        limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="At most this many items.")] = 10,
    ) -> None:
        """Search the archive of posted digests (title, blurb, tags, category)."""
        from digestbot.search import search
        from digestbot.store.schema import StoreError, open_engine

        settings = settings_or_exit()
        try:
            hits = search(open_engine(settings.store_url), " ".join(words), limit=limit)
        except StoreError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
        if not hits:
            typer.echo("no past digest item matches")
            raise typer.Exit(1)
        for hit in hits:
            typer.echo(f"{hit.title}  [{hit.category_name} / {hit.source}]")
            typer.echo(f"  {hit.url}")
            typer.echo(f"  {hit.blurb}")
            for seen in hit.appearances:
                typer.echo(f"  digest {seen.period} in {seen.channel}: {seen.permalink or '(no link)'}")
