"""How much of each agent stage needed help: repairs, retries alone, "other" for unknown ids, held back.

A stage where more than `WARN_SHARE` of the items the model was asked about needed one is a run
the team must hear about: the CLI prints it in red and the runner posts it to the admin channel.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from digestbot.agents.base import UsageReport
from digestbot.domain import Window
from digestbot.settings import Settings

WARN_SHARE = 0.2
NAMED_IN_WARNING = 5
KIND_LABEL = {
    "repaired": "repaired",
    "retried": "retried alone",
    "mapped_to_other": 'mapped to "other"',
    "held_back": "held back",
}


def needed_help(usage: UsageReport) -> dict[str, dict[str, Any]]:
    """Per agent with incidents: how many distinct items, out of how many asked, and by kind."""
    out: dict[str, dict[str, Any]] = {}
    for agent in dict.fromkeys(i.agent for i in usage.incidents):
        mine = [i for i in usage.incidents if i.agent == agent]
        ids = list(dict.fromkeys(i.item_id for i in mine))
        asked = usage.per_agent[agent].items if agent in usage.per_agent else 0
        out[agent] = {
            "items": len(ids),
            "asked": max(asked, len(ids)),
            "kinds": dict(Counter(i.kind for i in mine)),
            "item_ids": ids,
        }
    return out


def stage_warnings(usage: UsageReport) -> list[str]:
    """One line per stage where more than 20 % of the items needed help, naming the first few."""
    lines = []
    for agent, help_ in needed_help(usage).items():
        share = help_["items"] / help_["asked"]
        if share <= WARN_SHARE:
            continue
        kinds = ", ".join(f"{KIND_LABEL.get(k, k)} {n}" for k, n in help_["kinds"].items())
        ids = help_["item_ids"]
        more = len(ids) - NAMED_IN_WARNING
        named = ", ".join(ids[:NAMED_IN_WARNING]) + (f" and {more} more" if more > 0 else "")
        counted = f"{help_['items']} of {help_['asked']} items ({share:.0%})"
        lines.append(f"{agent}: {counted} needed help ({kinds}): {named}")
    return lines


def admin_alert(label: str, warnings: list[str]) -> str:
    """The admin channel's message for a run with unhealthy stages."""
    head = (
        f"⚠️ ダイジェスト {label}: モデルの回答の20%超に修復・再試行・保留が必要でした"
        "（LLMの設定・プロンプトを確認してください。詳細は digest.json の stats.incidents）"
    )
    return "\n".join([head, *(f"• {line}" for line in warnings)])


def alert_admin(settings: Settings, window: Window, warnings: list[str]) -> bool:
    """Post the warnings to `[slack] admin_channel` (if set); False when nothing was sent."""
    if not warnings:
        return False
    from digestbot.config_reload import post_admin_message

    return post_admin_message(settings, admin_alert(window.label(settings.app.general.timezone), warnings))
