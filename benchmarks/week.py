"""The synthetic week: arXiv entries with real-looking titles and abstracts, Qiita and Zenn articles.

About `llm_share` of the papers are LLM research in one of the team's themes; the rest are other
machine learning (vision, robotics, graphs, time series ...), some of which say "benchmark",
"efficient", "agent", "retrieval" or "transformer" (hard negatives for the prefilter). Duplicates and
revisions are mixed in as the API and the feeds produce them: v2/v3 entries, the same entry served
twice, both versions of a paper served, one article in several tag feeds, and Qiita/Zenn cross-posts.
Everything is a pure function of the seed.
"""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from digestbot.domain import Window
from digestbot.testing.arxiv_server import ArxivEntry
from digestbot.testing.feed_builders import synthetic_qiita_items, synthetic_zenn_articles

WINDOW = Window.between(date(2026, 1, 5), date(2026, 1, 11), "Asia/Tokyo")

VOCABULARY = tomllib.loads((Path(__file__).parent / "vocabulary.toml").read_text(encoding="utf-8"))
WORDS: dict[str, list[str]] = VOCABULARY["words"]
LLM_THEMES: dict[str, dict[str, list[str]]] = VOCABULARY["llm"]  # category id -> topics, methods, benchmarks
OTHER_THEMES: list[dict[str, Any]] = VOCABULARY["other"]  # topic, method, benchmarks


@dataclass
class Week:
    window: Window
    arxiv: list[ArxivEntry]
    qiita: list[dict[str, Any]]
    zenn: list[dict[str, Any]]
    llm_ids: set[str] = field(default_factory=set)  # versionless arXiv ids of the LLM papers (ground truth)
    notes: dict[str, int] = field(default_factory=dict)  # how many of each kind of duplicate


def _acronym(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHKLMPRSTVXZ") for _ in range(rng.randint(3, 6)))


def _paper(rng: random.Random, llm: bool) -> tuple[str, str, list[str]]:
    """(title, abstract, categories) for one paper."""
    name, gain, k = _acronym(rng), round(rng.uniform(1.5, 35.0), 1), rng.randint(2, 9)
    if llm:
        theme = LLM_THEMES[rng.choice(list(LLM_THEMES))]
        benches = theme["benchmarks"]
        topic, method, model = (
            rng.choice(theme["topics"]),
            rng.choice(theme["methods"]),
            rng.choice(WORDS["models"]),
        )
        cats = [rng.choice(("cs.CL", "cs.CL", "cs.AI", "cs.LG"))]
        context = (
            f"{topic} is a central problem for deploying large language models (LLMs), "
            "yet existing approaches trade quality for cost."
        )
        evidence = f"With {model}, experiments on {k} benchmarks"
    else:
        other = rng.choice(OTHER_THEMES)
        topic, method, benches = other["topic"], other["method"], other["benchmarks"]
        cats = [rng.choice(("cs.CV", "cs.LG", "cs.RO", "stat.ML", "cs.AI"))]
        context = f"{topic} has attracted growing attention, but current methods scale poorly to real data."
        evidence = f"Experiments on {k} benchmarks"
    prefix = rng.choice(WORDS["prefix"])
    title = f"{name}: {prefix} {topic}" if rng.random() < 0.55 else f"{prefix} {topic}"
    named = ", ".join(rng.sample(benches, min(len(benches), 2))) if benches else ""
    result = (
        f"{evidence} including {named} show that {name} improves accuracy by {gain}%"
        if named
        else f"{evidence} show a {gain}% improvement"
    )
    closing = ("Code is available.", "We release our code and data.", "Ablations confirm each component.")
    sentences = [
        context,
        rng.choice(WORDS["middle"]),
        f"We propose {name}, a method that {method}.",
        rng.choice(WORDS["detail"]),
        f"{result} over strong baselines while reducing cost by {rng.randint(2, 9)}x.",
        *(x.format(name=name) for x in rng.sample(WORDS["extra"], rng.randint(2, 3))),
        rng.choice(closing),
    ]
    abstract = " ".join(sentences)
    cats += [c for c in ("cs.CL", "cs.AI", "cs.LG", "stat.ML") if c not in cats and rng.random() < 0.2]
    return title, abstract, cats


def arxiv_week(
    n: int, window: Window, *, seed: int = 7, llm_share: float = 0.3
) -> tuple[list[ArxivEntry], set[str], dict[str, int]]:
    """`n` served entries in `window` (ids in time order), the LLM ids, and duplicate counts."""
    rng = random.Random(seed)
    span = (window.end - window.start).total_seconds()
    n_dup, n_pair = n // 100, n // 100  # the same entry served twice; v1 and v2 of a paper both served
    unique = n - n_dup - n_pair
    moments = sorted(window.start + timedelta(seconds=int(rng.random() * (span - 60))) for _ in range(unique))
    entries: list[ArxivEntry] = []
    llm_ids: set[str] = set()
    for serial, published in enumerate(moments, start=1):
        llm = rng.random() < llm_share
        title, abstract, cats = _paper(rng, llm)
        version = rng.choices((1, 2, 3), weights=(85, 12, 3))[0]
        base = f"{published:%y%m}.{serial:05d}"
        updated = published + timedelta(hours=rng.randint(20, 200)) if version > 1 else published
        entry: ArxivEntry = {
            "id": f"{base}v{version}",
            "title": title,
            "summary": abstract,
            "published": published,
            "updated": updated,
            "authors": rng.sample(WORDS["authors"], rng.randint(1, 7)),
            "categories": cats,
            "primary": cats[0],
        }
        if rng.random() < 0.6:
            entry["comment"] = f"{rng.randint(8, 40)} pages, {rng.randint(1, 12)} figures"
        entries.append(entry)
        if llm:
            llm_ids.add(base)
    for source in rng.sample(entries, n_dup):
        entries.append(dict(source))  # type: ignore[arg-type]
    for source in rng.sample([e for e in entries[:unique] if e["id"].endswith("v1")], n_pair):
        first = source["published"]
        assert isinstance(first, datetime)
        newer = dict(source, id=source["id"][:-1] + "2", updated=first + timedelta(days=2))
        entries.append(newer)  # type: ignore[arg-type]
    rng.shuffle(entries)
    revised = sum(not e["id"].endswith("v1") for e in entries)
    notes = {"served": len(entries), "same_entry_twice": n_dup, "both_versions": n_pair, "revised": revised}
    return entries, llm_ids, notes


def _classic(rng: random.Random, article: dict[str, Any], title_key: str = "title") -> None:
    """Turn an article from a broad feed (機械学習, nlp) into classic, non-LLM machine learning."""
    article[title_key] = rng.choice(WORDS["classic_ml"]) + f" ({rng.randint(1, 99)})"
    if "body" in article:
        score = f"0.{rng.randint(70, 99)}"
        article["body"] = (
            f"# はじめに\n{article['title']}の手順をまとめます。\n## 結果\n精度は{score}でした。"
        )
    if "description" in article:
        article["description"] = f"{article['title']}の手順をまとめます。..."


def build_week(
    *,
    arxiv: int = 3000,
    qiita: int = 300,
    zenn: int = 200,
    seed: int = 7,
    qiita_tags: tuple[str, ...],
    zenn_topics: tuple[str, ...],
) -> Week:
    """The benchmark's week; Qiita/Zenn use the configured tags and topics so that every feed has items."""
    window = WINDOW
    entries, llm_ids, notes = arxiv_week(arxiv, window, seed=seed)
    rng = random.Random(seed + 1)
    end = window.end - timedelta(minutes=5)
    q = synthetic_qiita_items(qiita, seed=seed, end=end, days=6.9, tags=qiita_tags)
    z = synthetic_zenn_articles(zenn, seed=seed, end=end, days=6.9, topics=zenn_topics)
    broad = {"機械学習", "自然言語処理", "nlp"}
    for item in q:
        if {t["name"] for t in item["tags"]} & broad and rng.random() < 0.5:
            _classic(rng, item)
    for art in z:
        if set(art["topics"]) & broad and rng.random() < 0.5:
            _classic(rng, art)
    for art, item in zip(z[:5], q[:5], strict=True):  # cross-posts: the same article on both sites
        art["title"] = item["title"]
    notes.update(qiita=len(q), zenn=len(z), cross_posts=5)
    return Week(window, entries, q, z, llm_ids, notes)
