"""What the learned ranking reads: the voted items, and the judge's rank each had in a posted digest."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select

from digestbot.domain import Item
from digestbot.store.digests import digest_posts, ensure_table
from digestbot.store.rows import row_to_item
from digestbot.store.schema import items

_CHUNK = 500  # ids per IN (...) query


def items_by_id(engine: Engine, item_ids: Sequence[str]) -> dict[str, Item]:
    """The stored items among `item_ids` (ids no longer stored are left out)."""
    wanted = sorted(set(item_ids))
    out: dict[str, Item] = {}
    with engine.connect() as conn:
        for start in range(0, len(wanted), _CHUNK):
            query = select(items).where(items.c.id.in_(wanted[start : start + _CHUNK]))
            out.update({row["id"]: row_to_item(row) for row in conn.execute(query).mappings()})
    return out


def posted_judge_ranks(engine: Engine) -> dict[str, float]:
    """Item id -> the judge's rank in the posted digests (the judge's part when a learned ranking
    blended in; the latest post wins). Votes are given on posted items, so these are the ranks the
    untuned ranking gave the voted items."""
    ensure_table(engine)
    query = (
        select(digest_posts.c.digest)
        .where(digest_posts.c.status == "posted")
        .order_by(digest_posts.c.updated_at, digest_posts.c.id)
    )
    ranks: dict[str, float] = {}
    with engine.connect() as conn:
        for (digest,) in conn.execute(query):
            for section in (digest or {}).get("sections", ()):
                for entry in section.get("entries", ()):
                    judge = entry.get("judge_rank")
                    ranks[entry["id"]] = float(entry["rank"] if judge is None else judge)
    return ranks
