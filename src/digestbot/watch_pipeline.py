"""What the pipeline does differently for a watched item (`[watch]`, matched by `watch.py`).

- The prefilter and the shortlist pass it (`graph/nodes/prefilter.py`, `classify.shortlist`).
- The classifier must still give it a category (its votes, its judge rubric): when the answer fits
  no category or the classifier failed on it, `watched_fallback` puts it in `pipeline.other_category`
  (else the first category) instead of dropping or holding it back.
- The judge cannot drop it (`keep_watched`): it still goes through summarize ⇄ judge, a weak blurb
  still gets its revision, but a final "drop" becomes "keep" with a flag saying why it would have
  been dropped (run report, `digest.json`, preview; never in Slack). The code guards still hold: a
  blurb failing a guard is never posted; the item is posted without the failing sentence when the
  rest passes every guard, else with its title only (no blurb), and the flag says which.
- Compose puts it in the 注目 section at the top (`watch_section`), never also in its category,
  outside the category caps and the total cap, ordered by the strongest match (an arXiv id, then
  an author, a user, a keyword) and then by rank. At most `[watch] max_items` are shown; the rest
  are listed under `left_out` (capped, "watch cap") and counted in the section's 「他N件」.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from digestbot.agents import guards
from digestbot.agents.base import AgentError
from digestbot.domain import WATCH_SECTION, Digest, DigestEntry, DigestSection, Item, LeftOut, WatchMatch
from digestbot.graph.state import Classification
from digestbot.settings import Category
from digestbot.watch import strength

if TYPE_CHECKING:
    from digestbot.graph.nodes.judge import Judged

WATCH_NAME = "注目"
WATCH_EMOJI = "📌"
WATCH_CAP = "watch cap"
FALLBACK_REASON = "注目（分類できなかったため既定のカテゴリ）"


def fallback_category(categories: Sequence[Category], other: str | None) -> str:
    known = [c.id for c in categories]
    return other if other in known else known[0]


def watched_fallback(
    item: Item, answer: Classification | AgentError, categories: Sequence[Category], other: str | None
) -> Classification:
    """A category for a watched item the classifier failed on or put in no category."""
    category = fallback_category(categories, other)
    if isinstance(answer, AgentError):
        return Classification(item_id=item.id, primary=category, confidence=0.0, reason=FALLBACK_REASON)
    return answer.model_copy(update={"primary": category, "reason": FALLBACK_REASON})


def safe_blurb(item: Item, blurb: str, max_chars: int) -> tuple[str, str]:
    """(a blurb that passes every guard, "" or which fallback was used): the blurb, without its
    failing sentences, or none at all (the entry shows its title only)."""
    if blurb and guards.check_blurb(item, blurb, max_chars=max_chars).ok:
        return blurb, ""
    rest = guards.salvage(item, blurb, max_chars=max_chars) if blurb else None
    if rest is not None and guards.check_blurb(item, rest, max_chars=max_chars).ok:
        return rest, "posted without the failing sentence"
    return "", "posted the title only (no blurb passed the guards)"


def keep_watched(judged: Judged, item: Item, *, max_chars: int) -> tuple[Judged, str]:
    """A final "drop" of a watched item -> "keep" and the flag saying why (else unchanged, "")."""
    if judged.action != "drop":
        return judged, ""
    blurb, fallback = safe_blurb(item, judged.blurb, max_chars)
    flag = f"watched: the judge would drop it ({judged.why[:240]})"
    if fallback:
        flag += f"; guard: {fallback}"
    return replace(judged, action="keep", why=flag, blurb=blurb), flag


def split_watched(
    kept: Sequence[DigestEntry], watched: Mapping[str, Sequence[WatchMatch]]
) -> tuple[list[DigestEntry], list[DigestEntry]]:
    """(the watched entries, with what they matched; the others)."""
    mine = [replace(e, watch=tuple(watched[e.item.id])) for e in kept if e.item.id in watched]
    return mine, [e for e in kept if e.item.id not in watched]


def watch_section(
    entries: Sequence[DigestEntry], max_items: int
) -> tuple[DigestSection | None, list[LeftOut]]:
    """The 注目 section (None when nothing matched) and the watched entries over `max_items`."""
    if not entries:
        return None, []
    ordered = sorted(entries, key=lambda e: (strength(e.watch), -e.rank, e.item.id))
    shown, over = ordered[:max_items], ordered[max_items:]
    why = f"{WATCH_CAP}: {WATCH_NAME} shows its first {max_items} ([watch] max_items)"
    left = [
        LeftOut(e.item.id, e.item.title, e.item.url, "capped", "cap", why, e.category, place, e.rank)
        for place, e in enumerate(over, max_items + 1)
    ]
    return DigestSection(WATCH_SECTION, WATCH_NAME, WATCH_EMOJI, tuple(shown), total=len(ordered)), left


def watched_entries(digest: Digest) -> tuple[DigestEntry, ...]:
    return next((s.entries for s in digest.sections if s.is_watch), ())


def watch_stats(digest: Digest) -> dict[str, Any]:
    """`stats.watched` of `digest.json`: the 注目 entries, what they matched, flags; how many over the cap."""
    shown = [
        {"item_id": e.item.id, "matched": [m.label for m in e.watch]}
        | ({"flag": e.watch_flag} if e.watch_flag else {})
        for e in watched_entries(digest)
    ]
    over = sum(1 for left in digest.left_out if left.reason.startswith(WATCH_CAP))
    return {"shown": shown, "over_cap": over}
