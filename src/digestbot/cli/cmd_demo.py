"""`digestbot demo`: the full pipeline offline on bundled real sample data; prints and writes the digest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from digestbot.cli import settings_or_exit
from digestbot.cli.console import console
from digestbot.cli.progress import PipelineProgress
from digestbot.cli.report import print_outcome
from digestbot.runner import RunError, run_digest
from digestbot.settings import ConfigError


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Annotated[
            Path, typer.Option("--out", help="Folder for the demo's store and digest files.")
        ] = Path("demo-out"),
    ) -> None:
        """Run everything offline on sample data (no network, no keys) and print the digest."""
        from digestbot.demo import DEMO_WINDOW, demo_servers, demo_settings

        base = settings_or_exit()
        err = console(stderr=True)
        err.print(
            "demo: serving bundled sample data (18 real arXiv LLM papers, a recorded Zenn feed) "
            "on 127.0.0.1; "
            "agents in offline mode",
            highlight=False,
        )
        try:
            with demo_servers() as (arxiv_url, feeds_url):
                settings = demo_settings(base, arxiv_url=arxiv_url, feeds_url=feeds_url, data_dir=out)
                with PipelineProgress(err) as progress:
                    outcome = run_digest(
                        settings, DEMO_WINDOW, dry_run=True, out_dir=out / "digest", on_progress=progress
                    )
        except ConfigError as exc:  # e.g. a broken agent file or category in the user's config
            typer.secho(f"config error: {exc}", fg="red", err=True)
            raise typer.Exit(2) from None
        except RunError as exc:
            typer.secho(f"demo failed: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
        print_outcome(outcome)
