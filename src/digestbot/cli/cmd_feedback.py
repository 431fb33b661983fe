"""`digestbot feedback`: reader votes (👍/👎) summarized by category and by source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from digestbot.cli import settings_or_exit
from digestbot.cli.console import console as make_console


def register(app: typer.Typer) -> None:
    @app.command("feedback")
    def feedback(
        days: Annotated[int, typer.Option("--days", min=1, help="Votes changed in the last N days.")] = 90,
        evaluate: Annotated[
            bool, typer.Option("--eval", help="Evaluate the learned ranking on a time split of all votes.")
        ] = False,
        train: Annotated[
            int | None,
            typer.Option("--train", min=1, help="--eval: train on the N oldest voted items (default 70 %)."),
        ] = None,
    ) -> None:
        """Summarize the team's votes, and show the examples the judge currently gets as guidance."""
        if evaluate:
            evaluate_ranking(train)
            return
        from rich.table import Table

        from digestbot.feedback import load_guidance, summarize
        from digestbot.store.feedback import votes
        from digestbot.store.schema import StoreError, open_engine

        settings = settings_or_exit()
        now = datetime.now(UTC)
        try:
            engine = open_engine(settings.store_url)
            summary = summarize(votes(engine, since=now - timedelta(days=days)))
            config = settings.app.feedback
            guidance = load_guidance(
                engine, now=now, days=config.guidance_days, examples=config.guidance_examples
            )
        except StoreError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
        console = make_console()
        console.print(f"{summary.total} votes by {summary.voters} readers in the last {days} days")
        for title, tallies in (("category", summary.by_category), ("source", summary.by_source)):
            table = Table(title=f"by {title}")
            for column in (title, "👍", "👎", "net", "items"):
                table.add_column(column, justify="left" if column == title else "right")
            for name, tally in tallies.items():
                table.add_row(name, str(tally.up), str(tally.down), f"{tally.net:+d}", str(len(tally.items)))
            console.print(table)
        for label, examples in (("liked", guidance.liked), ("disliked", guidance.disliked)):
            console.print(f"judge guidance, {label}: " + ("; ".join(e.title for e in examples) or "none"))


def evaluate_ranking(train: int | None) -> None:
    """`feedback --eval`: learned vs untuned ranking on the votes, older ones to train, newer to test."""
    from digestbot.agents.embedding import EmbeddingCache, shared_embedder
    from digestbot.store.cache import ResultCache
    from digestbot.store.feedback import votes
    from digestbot.store.schema import StoreError, open_engine
    from digestbot.store.taste import items_by_id, posted_judge_ranks
    from digestbot.taste import embedder_for, labels
    from digestbot.taste_eval import evaluate, report_lines

    settings = settings_or_exit()
    try:
        engine = open_engine(settings.store_url)
        examples = labels(votes(engine))
        stored = items_by_id(engine, [e.item_id for e in examples])
        ranks = posted_judge_ranks(engine)
        embed = embedder_for(EmbeddingCache(shared_embedder(), ResultCache(engine)))
        result = evaluate(examples, stored, ranks, embed, train=train)
    except StoreError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    console = make_console()
    for line in report_lines(result, min_votes=settings.app.feedback.ranking_min_votes):
        console.print(line, highlight=False, soft_wrap=True)
