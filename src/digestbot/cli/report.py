"""What `run` and `demo` print after the pipeline: the digest, the usage/cost table, the files."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from digestbot.cli.console import console as make_console
from digestbot.digest_markdown import to_markdown
from digestbot.domain import LeftOut
from digestbot.run_health import KIND_LABEL
from digestbot.runner import RunOutcome


def usage_table(outcome: RunOutcome) -> Table:
    usage = outcome.usage
    title = "LLM使用量 usage" + (
        " — offline mode (no LLM calls)" if outcome.digest.offline else f" — {usage.model}"
    )
    table = Table(title=title)
    columns = ("agent", "calls", "cached", "input tok", "output tok", "repairs", "retries", "failures")
    for column in (*columns, "cost USD"):
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
            str(u.retries),
            str(u.failures),
            f"{u.cost_usd:.4f}",
        )
    return table


BEST_LEFT_OUT = 10


def _score(left: LeftOut) -> str:
    return "-" if left.score is None else f"{left.score:.2f}"


def print_left_out(outcome: RunOutcome, out: Console) -> None:
    """Counts of what was left out, every held-back item, and the ten best-scored items not posted."""
    left = outcome.digest.left_out
    if not left:
        return
    counts = Counter(item.status for item in left)
    out.print(
        "not in the digest: "
        + " · ".join(f"{status} {n}" for status, n in sorted(counts.items()))
        + " (every one is listed in digest.json `left_out` and in `digestbot preview`)",
        highlight=False,
    )
    for item in (i for i in left if i.status == "held_back"):
        out.print(
            Text.assemble(("  held back", "yellow"), f" {item.item_id} ({item.stage}): {item.reason}"),
            soft_wrap=True,
        )
    best = sorted((i for i in left if i.score is not None), key=lambda i: (-(i.score or 0), i.item_id))
    if not best:
        return
    table = Table(title=f"best-scored items not in the digest (top {BEST_LEFT_OUT})")
    for column in ("title", "category", "score", "why"):
        table.add_column(column, justify="right" if column == "score" else "left")
    for item in best[:BEST_LEFT_OUT]:
        why = f"{item.stage}: {item.reason}"
        table.add_row(Text(item.title[:60]), Text(item.category), _score(item), Text(why[:120]))
    out.print(table)


def print_incidents(outcome: RunOutcome, out: Console) -> None:
    """Every item whose answer needed a repair, a retry alone, "other" or was held back, by agent."""
    for incident in outcome.usage.incidents:
        label = KIND_LABEL.get(incident.kind, incident.kind)
        out.print(
            Text.assemble(
                (f"  {incident.agent} {label}", "yellow"), f" {incident.item_id}: {incident.detail}"
            ),
            soft_wrap=True,
        )


def print_outcome(outcome: RunOutcome, console: Console | None = None) -> None:
    """Outside text goes out as `Text` (never parsed as markup, whatever console is passed in)."""
    out = console or make_console()
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
    if outcome.digest.ranking is not None:
        out.print(outcome.digest.ranking.line(), highlight=False)
    print_left_out(outcome, out)
    print_incidents(outcome, out)
    for flagged in stats["flagged"][:10]:
        out.print(
            Text.assemble(("  flagged", "yellow"), f" {flagged['item_id']}: {flagged['reason']}"),
            soft_wrap=True,
        )
    for watched in stats["watched"]["shown"]:
        line = f" {watched['item_id']}: {' ・ '.join(watched['matched'])}"
        flag = f" [flag: {watched['flag']}]" if watched.get("flag") else ""
        out.print(Text.assemble(("  注目", "cyan"), line + flag), soft_wrap=True)
    out.print(usage_table(outcome))
    for kind, path in outcome.outputs.items():
        out.print(Text(f"wrote {kind}: {path}"), highlight=False)
    if outcome.trends_note:
        out.print(Text(f"trends: {outcome.trends_note}"), highlight=False)
    for warning in outcome.warnings():
        out.print(Text.assemble(("WARNING", "bold red"), f" {warning}"), soft_wrap=True)
    delivery = outcome.delivery
    if delivery is not None:
        line = f"Slack: {delivery.action} to {delivery.channel} ({delivery.messages} message(s))"
        if delivery.chart_error:
            line += f" · chart not uploaded: {delivery.chart_error}"
        out.print(Text(f"{line} {delivery.permalink}"), highlight=False)
