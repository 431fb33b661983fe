"""`digestbot serve`: the long-running worker (Procfile: `worker: digestbot serve`)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Annotated

import typer

from digestbot.cli import guarded_settings
from digestbot.settings import ConfigError


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        grace: Annotated[
            float, typer.Option("--grace", help="Seconds a running digest may take to finish after SIGTERM.")
        ] = 25.0,
    ) -> None:
        """Run the worker: scheduled fetches, the weekly digest, and /digest in Slack (Socket Mode)."""
        from digestbot.config_reload import ConfigHolder, post_admin_message
        from digestbot.serve import ServeError, run_until_signalled

        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        holder = ConfigHolder(guarded_settings, notify=post_admin_message)
        try:
            result = asyncio.run(run_until_signalled(holder, grace_seconds=grace))
        except ConfigError as exc:
            typer.secho(f"config error: {exc}", fg="red", err=True)
            raise typer.Exit(2) from None
        except ServeError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
        finally:
            holder.close()
        if result.abandoned:  # their threads would hold the exit; their state is safe (see serve.py)
            logging.shutdown()
            sys.stdout.flush()
            os._exit(0)
