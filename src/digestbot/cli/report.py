"""What `run` and `demo` print after the pipeline: the digest, the usage/cost table, the files."""

from __future__ import annotations

from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from digestbot.digest_markdown import to_markdown
from digestbot.runner import RunOutcome


def usage_table(outcome: RunOutcome) -> Table:
    usage = outcome.usage
    title = "LLM使用量 usage" + (
        " — offline mode (no LLM calls)" if outcome.digest.offline else f" — {usage.model}"
    )
    table = Table(title=title)
    for column in ("agent", "calls", "cached", "input tok", "output tok", "repairs", "failures", "cost USD"):
        table.add_column(column, justify="left" if column == "agent" else "right")
    rows = [*usage.per_agent.items(), ("total", usage.total)]
    for name, u in rows:
        table.add_row(
            name,
            str(u.calls),
            str(u.cached),
            str(u.input_tokens),
            str(u.output_tokens),
            str(u.repairs),
            str(u.failures),
            f"{u.cost_usd:.4f}",
        )
    return table


def print_outcome(outcome: RunOutcome, console: Console | None = None) -> None:
    out = console or Console()
    out.print(Markdown(to_markdown(outcome.digest)))
    stats = outcome.stats()
    prefiltered = ", ".join(f"{rule} {n}" for rule, n in outcome.prefilter_dropped.items() if n) or "0"
    later = ", ".join(f"{stage} {n}" for stage, n in sorted(stats["dropped_by"].items())) or "none"
    out.print(
        f"items in window {stats['items_in_window']} · dropped by prefilter: {prefiltered} · "
        f"dropped later by: {later} · kept {stats['kept']} · held back (failed) {stats['failed']} · "
        f"in the digest {stats['posted_entries']} · {stats['seconds']} s",
        highlight=False,
    )
    for failure in stats["failures"][:10]:
        out.print(f"  [yellow]held back[/] {failure['item_id']}: {failure['detail']}", highlight=False)
    out.print(usage_table(outcome))
    for kind, path in outcome.outputs.items():
        out.print(f"wrote {kind}: {path}", highlight=False)
    if outcome.trends_note:
        out.print(f"trends: {outcome.trends_note}", highlight=False)
    delivery = outcome.delivery
    if delivery is not None:
        line = f"Slack: {delivery.action} to {delivery.channel} ({delivery.messages} message(s))"
        if delivery.chart_error:
            line += f" · chart not uploaded: {delivery.chart_error}"
        out.print(f"{line} {delivery.permalink}", highlight=False)
