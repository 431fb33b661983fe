"""`python -m benchmarks.embedding_cost`: what the offline classifier's embeddings cost, in one run.

Model load time, peak RSS added by loading and using the model, the category prototypes (once per
category set) and ms per item at each input length (and for the title alone, which is mixed into the
item's vector), on 40 synthetic LLM abstracts from the
benchmark week generator (not the dev papers), 2 threads. Also a classification from the store's
cache (a re-run: 0 items embedded). Figures, not assertions; writes
`benchmarks/results/embedding_cost.json` and prints a Markdown table.
"""

from __future__ import annotations

import json
import random
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.knobs import ROOT
from benchmarks.week import _paper
from digestbot.agents.embedding import E5Embedder, EmbeddingCache, word_count
from digestbot.agents.offline_classify import category_model
from digestbot.agents.offline_semantic import SemanticClassifier, SemanticParams
from digestbot.domain import Item, SourceName
from digestbot.settings import load_settings
from digestbot.store.cache import ResultCache

WORDS = (16, 32, 64, 128)
ITEMS = 40


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _items() -> list[Item]:
    rng = random.Random(7)
    when = datetime(2025, 11, 17, tzinfo=UTC)
    out = []
    for n in range(ITEMS):
        title, abstract, _ = _paper(rng, True)
        out.append(
            Item(
                id=f"arxiv:2511.{n:05d}",
                source=SourceName.ARXIV,
                url=f"https://arxiv.org/abs/2511.{n:05d}",
                title=title,
                text=abstract,
                published=when,
                updated=when,
            )
        )
    return out


def main() -> None:
    settings = load_settings(ROOT / "config", environ={})
    other = settings.app.pipeline.other_category or None
    items = _items()
    rss_start = _rss_mb()
    embedder = E5Embedder()
    start = time.perf_counter()
    embedder.embed(["warm-up"], "query")
    load_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultCache(f"sqlite:///{Path(tmp) / 'store.db'}")
        cache = EmbeddingCache(embedder, store)
        start = time.perf_counter()
        classifier = SemanticClassifier(category_model(settings.categories, other), cache)
        prototypes_s = time.perf_counter() - start
        per_words = {}
        for words in WORDS:
            before = embedder.embedded
            start = time.perf_counter()
            cache.items(items, words, "query")
            elapsed = time.perf_counter() - start
            mean_words = sum(word_count(" ".join(i.title.split()) + " " + i.text) for i in items) / len(items)
            per_words[words] = {
                "ms_per_item": round(1000 * elapsed / len(items), 1),
                "embedded": embedder.embedded - before,
                "mean_words_available": round(mean_words, 1),
            }
        start = time.perf_counter()
        cache.texts([" ".join(i.title.split()) for i in items], "query")  # the title's own vector
        title_ms = 1000 * (time.perf_counter() - start) / len(items)
        again = E5Embedder()  # a new process would start with an empty memory: read the store instead
        rerun = SemanticClassifier(
            category_model(settings.categories, other), EmbeddingCache(again, store), SemanticParams()
        )
        start = time.perf_counter()
        rerun.classify(items)
        rerun_ms = 1000 * (time.perf_counter() - start) / len(items)
        result = {
            "items": len(items),
            "threads": embedder.threads,
            "model_load_s": round(load_s, 3),
            "prototypes": classifier.prototype_count,
            "prototypes_s": round(prototypes_s, 2),
            "by_words": per_words,
            "title_ms_per_item": round(title_ms, 1),
            "rerun_from_store_ms_per_item": round(rerun_ms, 2),
            "rerun_embedded": again.embedded,
            "peak_rss_added_mb": round(_rss_mb() - rss_start, 1),
            "shipped_words": SemanticParams().words,
        }
    out = ROOT / "benchmarks" / "results" / "embedding_cost.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    head = f"model load {result['model_load_s']} s, {result['prototypes']} prototypes"
    print(f"{head} {result['prototypes_s']} s, peak RSS added {result['peak_rss_added_mb']} MB")
    print("| input (words) | ms per item |\n|---|---|")
    for words, row in per_words.items():
        print(f"| {words} | {row['ms_per_item']} |")
    print(f"the title alone (title_weight {SemanticParams().title_weight}): {title_ms:.1f} ms per item")
    print(f"re-run from the store: {rerun_ms:.2f} ms per item, {again.embedded} embedded")


if __name__ == "__main__":
    main()
