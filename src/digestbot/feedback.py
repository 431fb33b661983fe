"""Reader feedback: 👍/👎 votes per item, summaries, and the examples that tune the judge.

A vote is stored per (item, user) with the user as an HMAC of `team:user` (the Slack id is never
kept); voting again changes it, the same vote twice changes nothing. The judge's guidance is the
team's recent net-liked and net-disliked items (titles from the item store), newest first.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine

from digestbot.store.feedback import Vote, item_titles, upsert_vote, votes

Outcome = Literal["recorded", "changed", "unchanged"]


def hash_user(team_id: str, user_id: str, salt: str = "") -> str:
    """64 hex characters; the same user in the same team always hashes the same."""
    key = (salt or "digestbot-feedback").encode()
    return hmac.new(key, f"{team_id}:{user_id}".encode(), hashlib.sha256).hexdigest()


def source_of(item_id: str) -> str:
    return item_id.split(":", 1)[0] if ":" in item_id else "unknown"


def record_vote(
    engine: Engine,
    *,
    item_id: str,
    category: str,
    user_hash: str,
    up: bool,
    now: datetime,
    channel_id: str = "",
    message_ts: str = "",
) -> Outcome:
    """Store one user's vote on an item: new, changed (👍 -> 👎 or another category), or unchanged."""
    before = {v.user_hash: v for v in votes(engine, item_ids=[item_id])}.get(user_hash)
    vote = Vote(item_id, user_hash, 1 if up else -1, category, source_of(item_id), channel_id, message_ts)
    if not upsert_vote(engine, vote, now):
        return "unchanged"
    return "recorded" if before is None else "changed"


# --- summaries ------------------------------------------------------------------------------------


@dataclass
class Tally:
    up: int = 0
    down: int = 0
    items: set[str] = field(default_factory=set)

    @property
    def net(self) -> int:
        return self.up - self.down

    def add(self, vote: Vote) -> None:
        if vote.vote > 0:
            self.up += 1
        else:
            self.down += 1
        self.items.add(vote.item_id)


@dataclass(frozen=True)
class FeedbackSummary:
    by_category: dict[str, Tally]
    by_source: dict[str, Tally]
    voters: int
    total: int


def summarize(all_votes: Iterable[Vote]) -> FeedbackSummary:
    """Votes counted per category (as shown) and per source, busiest first."""
    by_category: dict[str, Tally] = defaultdict(Tally)
    by_source: dict[str, Tally] = defaultdict(Tally)
    voters: set[str] = set()
    total = 0
    for vote in all_votes:
        by_category[vote.category].add(vote)
        by_source[vote.source].add(vote)
        voters.add(vote.user_hash)
        total += 1

    def busiest(tallies: Mapping[str, Tally]) -> dict[str, Tally]:
        return dict(sorted(tallies.items(), key=lambda kv: (-(kv[1].up + kv[1].down), kv[0])))

    return FeedbackSummary(busiest(by_category), busiest(by_source), len(voters), total)


def net_votes(all_votes: Iterable[Vote]) -> dict[str, int]:
    """Item id -> 👍 minus 👎."""
    net: Counter[str] = Counter()
    for vote in all_votes:
        net[vote.item_id] += vote.vote
    return dict(net)


# --- guidance for the judge --------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    title: str
    category: str
    source: str
    net: int


@dataclass(frozen=True)
class JudgeGuidance:
    """What the judge prompt shows as this team's taste (`liked` / `disliked` in agents/judge.md)."""

    liked: tuple[Example, ...] = ()
    disliked: tuple[Example, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.liked or self.disliked)

    def key(self) -> str:
        """Part of the judge's fingerprint: new guidance re-judges instead of reusing cached verdicts."""
        text = repr((self.liked, self.disliked))
        return hashlib.sha256(text.encode()).hexdigest()[:16] if self else ""


def titles(engine: Engine, item_ids: Sequence[str]) -> dict[str, str]:
    """Titles from the item store (items no longer stored are left out)."""
    return item_titles(engine, item_ids)


def guidance_from(
    all_votes: Sequence[Vote], known_titles: Mapping[str, str], *, examples: int = 5
) -> JudgeGuidance:
    """The `examples` most clearly liked and disliked items (ties: most recent vote first)."""
    latest: dict[str, int] = {}
    category: dict[str, str] = {}
    for order, vote in enumerate(all_votes):  # newest first
        latest.setdefault(vote.item_id, order)
        category.setdefault(vote.item_id, vote.category)
    net = net_votes(all_votes)

    def pick(sign: int) -> tuple[Example, ...]:
        chosen = sorted(
            (i for i, n in net.items() if n * sign > 0 and i in known_titles),
            key=lambda i: (-abs(net[i]), latest[i]),
        )[:examples]
        return tuple(Example(known_titles[i], category[i], source_of(i), net[i]) for i in chosen)

    return JudgeGuidance(liked=pick(1), disliked=pick(-1))


def load_guidance(engine: Engine, *, now: datetime, days: int = 90, examples: int = 5) -> JudgeGuidance:
    """Guidance from the votes of the last `days` days."""
    recent = votes(engine, since=now - timedelta(days=days))
    return guidance_from(recent, titles(engine, sorted({v.item_id for v in recent})), examples=examples)


# --- agreement with held-back votes --------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    compared: int  # held-back items with a clear net vote that the judge decided on
    agreed: int

    @property
    def rate(self) -> float:
        return self.agreed / self.compared if self.compared else 0.0


def agreement(kept: Mapping[str, bool], held_back: Mapping[str, int]) -> Agreement:
    """How often the judge kept the net-liked items and dropped the net-disliked ones."""
    pairs = [(kept[i], net > 0) for i, net in held_back.items() if net != 0 and i in kept]
    return Agreement(len(pairs), sum(1 for keep, liked in pairs if keep == liked))
