"""`digestbot init [DIR]`: editable copies of the packaged config/ and agents/ (never overwriting)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        folder: Annotated[
            Path, typer.Argument(help="Where to write config/ and agents/ (default: here).")
        ] = Path(),
    ) -> None:
        """Write editable copies of the default config/ and agents/ into FOLDER; existing files are kept."""
        from digestbot import defaults

        try:
            written, skipped = defaults.write_copies(folder)
        except OSError as exc:  # e.g. a read-only folder, or a file named `config` where the folder goes
            typer.secho(
                f"init: cannot write into {folder}: {exc.strerror} ({exc.filename})", fg="red", err=True
            )
            raise typer.Exit(1) from None
        for path in written:
            typer.echo(f"wrote {path}")
        for path in skipped:
            typer.secho(f"kept {path} (it exists; not overwritten)", fg="yellow")
        typer.echo(
            f"{len(written)} written, {len(skipped)} kept. Edit config/digestbot.toml and "
            "config/categories.toml, then: digestbot config check; digestbot demo"
        )
