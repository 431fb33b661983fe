"""A generated set of category corrections: items of six topics the team files under its own
categories, with the category the offline classifier gave them when they were corrected.

For `digestbot eval --corrections` tests and the figures in the README: `python -m
digestbot.testing.corrections_set DB_URL` fills a store. Generic topics, nothing from the dev papers.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from digestbot.domain import Item, SourceName
from digestbot.store import ItemStore
from digestbot.store.corrections import CategoryCorrection, add_category_correction

TOPICS: dict[str, list[tuple[str, str]]] = {
    "codegen": [
        (
            "Repository-level code completion with retrieval of cross-file context",
            "We complete code at the repository level by retrieving definitions from other files.",
        ),
        (
            "Generating unit tests for legacy code with language models",
            "A language model writes unit tests for untested functions; coverage grows from 41% to 63%.",
        ),
        (
            "Fixing compiler errors automatically with a code model",
            "We repair programs that fail to compile using a fine-tuned code model and compiler feedback.",
        ),
    ],
    "legal": [
        (
            "Contract clause extraction with large language models",
            "We extract obligations and termination clauses from contracts; F1 reaches 0.82 on a new corpus.",
        ),
        (
            "Answering statutory questions with language models",
            "A model answers questions about tax statutes by citing the relevant sections.",
        ),
        (
            "Summarizing court decisions for lawyers",
            "We summarize long court rulings into the holdings lawyers need.",
        ),
    ],
    "tokenizer": [
        (
            "Byte-level tokenization without a vocabulary",
            "We train language models on raw bytes and match subword models at equal compute.",
        ),
        (
            "Vocabulary size and multilingual language model quality",
            "Larger vocabularies help low-resource languages; we measure the trade-off in 20 languages.",
        ),
        (
            "Adapting a tokenizer to a new language after pretraining",
            "We extend the vocabulary of a pretrained model for Japanese and recover perplexity.",
        ),
    ],
    "speech": [
        (
            "Streaming speech recognition with a language model decoder",
            "An LLM decoder on top of a speech encoder lowers word error rate by 8% in streaming mode.",
        ),
        (
            "Spoken dialogue systems that handle interruptions",
            "We build a spoken assistant that stops and resumes when the user interrupts.",
        ),
        (
            "Text-to-speech with prosody control from instructions",
            "Natural-language instructions control the prosody of synthesized speech.",
        ),
    ],
    "dataeval": [
        (
            "Detecting benchmark contamination in pretraining data",
            "We find test questions of popular benchmarks in web corpora and measure the inflation.",
        ),
        (
            "Membership inference for training data of language models",
            "We tell whether a document was in a model's training data with an AUC of 0.78.",
        ),
        (
            "Deduplicating web corpora at the paragraph level",
            "Paragraph-level deduplication removes 30% of tokens and improves downstream accuracy.",
        ),
    ],
    "edu": [
        (
            "Language model tutors for middle-school mathematics",
            "A tutor built on a language model gives hints instead of answers; learning gains rise.",
        ),
        (
            "Grading short essays with language models",
            "We grade student essays and agree with teachers as often as teachers agree with each other.",
        ),
        (
            "Generating practice questions from textbooks",
            "A model writes practice questions from textbook chapters; teachers accept 70% of them.",
        ),
    ],
}
# The team's category for each topic, and what the offline classifier said (when it was wrong).
TEAM = {
    "codegen": "agents",
    "legal": "application",
    "tokenizer": "training",
    "speech": "multimodal",
    "dataeval": "data",
    "edu": "application",
}
SAID = {
    "codegen": ("rag", "other", "other"),
    "legal": ("other", "other", "rag"),
    "tokenizer": ("multimodal", "other", "training"),
    "speech": ("multimodal", "other", "multimodal"),
    "dataeval": ("eval", "other", "other"),
    "edu": ("multimodal", "other", "other"),
}
START = datetime(2026, 11, 2, tzinfo=UTC)


def generated_items(topics: int | None = None) -> list[Item]:
    out = []
    for t, rows in enumerate(list(TOPICS.values())[:topics]):
        for j, (title, text) in enumerate(rows):
            when = START + timedelta(days=t, hours=j)
            number = f"2611.{t * 10 + j + 1:05d}"
            out.append(
                Item(
                    id=f"arxiv:{number}",
                    source=SourceName.ARXIV,
                    url=f"https://arxiv.org/abs/{number}",
                    title=title,
                    text=text,
                    published=when,
                    updated=when,
                    tags=("cs.CL",),
                )
            )
    return out


def store_corrections(engine: Engine, *, now: datetime | None = None, topics: int | None = None) -> int:
    """Store the items (of the first `topics`) and one correction per wrongly classified item (in
    topic order, a day apart); returns how many corrections."""
    now = now or datetime.now(UTC)
    items = generated_items(topics)
    with ItemStore(engine) as store:
        store.upsert(items)
    said = [s for topic in TOPICS for s in SAID[topic]]
    team = [TEAM[topic] for topic, rows in TOPICS.items() for _ in rows]
    stored = 0
    for n, (item, old, new) in enumerate(zip(items, said, team, strict=False)):
        if old == new:
            continue
        when = now - timedelta(days=len(items) - n)
        row = CategoryCorrection(item.id, item.title, old, new, user_hash="0" * 64, channel_id="C0")
        add_category_correction(engine, row, when)
        stored += 1
    return stored


if __name__ == "__main__":  # pragma: no cover - a helper for the README figures
    from digestbot.store.schema import open_engine

    print(f"{store_corrections(open_engine(sys.argv[1]))} corrections stored")
