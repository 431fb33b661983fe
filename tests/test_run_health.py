"""Stage health: which items needed help, and the warning past 20 % of a stage."""

from __future__ import annotations

from digestbot.agents.base import UsageReport
from digestbot.run_health import admin_alert, needed_help, stage_warnings


def usage_with(asked: int, helped: int) -> UsageReport:
    usage = UsageReport(model="m")
    usage.per_agent["classifier"].items = asked
    for n in range(helped):
        usage.record("classifier", f"arxiv:{n}", "repaired" if n % 2 else "held_back", "missing")
    return usage


def test_exactly_20_percent_does_not_warn() -> None:
    """2 of 10 items needing help is within the limit: counted and named, no warning."""
    usage = usage_with(10, 2)
    expected = {
        "items": 2,
        "asked": 10,
        "kinds": {"held_back": 1, "repaired": 1},
        "item_ids": ["arxiv:0", "arxiv:1"],
    }
    assert {"classifier": expected} == needed_help(usage)
    assert [] == stage_warnings(usage)


def test_more_than_20_percent_warns_naming_the_items() -> None:
    """3 of 10 warns with the share, the kinds and the first item ids."""
    expected = [
        "classifier: 3 of 10 items (30%) needed help (held back 2, repaired 1): arxiv:0, arxiv:1, arxiv:2"
    ]
    assert expected == stage_warnings(usage_with(10, 3))


def test_the_admin_alert_names_the_period_and_each_stage() -> None:
    """One message: the period, the 20 % rule, then one bullet per stage."""
    text = admin_alert("11/16–11/22", ["classifier: 3 of 10 items"])
    assert text.startswith("⚠️ ダイジェスト 11/16–11/22:") and text.endswith("\n• classifier: 3 of 10 items")
