"""The attachment rule (explainer vs. survey list) on recorded and generated Qiita/Zenn articles, the
slot an article gives up under its paper, and the links in Slack, Markdown and digest.json."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
from tests.conftest import build_item

from digestbot.config_schema import LinksConfig
from digestbot.digest_json import digest_from_dict, digest_to_dict
from digestbot.digest_markdown import to_markdown
from digestbot.domain import DigestEntry, Item, LinkedItem, Scores, Window
from digestbot.graph.nodes.compose import build_sections
from digestbot.links import LinkIndex, TitleIndex, apply_links, build_index, mentions_of, refresh_links
from digestbot.search import search
from digestbot.settings import Category
from digestbot.sources.text import find_arxiv_ids, normalize_title
from digestbot.store import ItemStore
from digestbot.store.digests import mark_posted, record_intent
from digestbot.store.links import attached
from support.links_digest import linked_digest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = Path("/work/shared/fixtures")
PAPER = ("arxiv:2611.00001", "Adaptive chunk reranking for long-context retrieval-augmented generation")
WHEN = datetime(2026, 11, 18, tzinfo=UTC)


def _titles(*papers: tuple[str, str]) -> TitleIndex:
    return TitleIndex([(pid, normalize_title(title)) for pid, title in papers], 16)


def _article(item_id: str, title: str, text: str) -> Item:
    mentioned = find_arxiv_ids(f"{title}\n{text}")
    return build_item(item_id, title=title, text=text, published=WHEN, mentioned_arxiv_ids=mentioned)


def _attached(article: Item, titles: TitleIndex, stored: set[str], max_papers: int = 3) -> list[str]:
    """The rule as the store query applies it: named in the title, or at most max_papers named."""
    return [
        m.paper_id for m in mentions_of(article, titles, stored) if m.in_title or m.papers_named <= max_papers
    ]


def test_an_explainer_is_attached_by_id_by_url_and_by_exact_title() -> None:
    """One paper named by arXiv id, by an arxiv.org URL (versioned) or by its exact title (any case,
    punctuation, width): attached, with how it was named."""
    titles, stored = _titles(PAPER), {PAPER[0]}
    by_id = _article("zenn:a1", "論文を読む", "arXiv:2611.00001 を解説します。")
    by_url = _article(
        "qiita:" + "a" * 20, "RAGの新手法", "https://arxiv.org/pdf/2611.00001v3 を再現しました。"
    )
    by_title = _article(
        "zenn:a3", "【論文解説】ADAPTIVE CHUNK RERANKING for Long-Context Retrieval-Augmented Generation", ""
    )
    assert [[PAPER[0]]] * 3 == [_attached(a, titles, stored) for a in (by_id, by_url, by_title)]
    assert ["arxiv_id", "arxiv_id", "title"] == [
        mentions_of(a, titles, stored)[0].how for a in (by_id, by_url, by_title)
    ]


def test_a_survey_list_is_attached_to_none_unless_its_title_names_the_paper() -> None:
    """An article naming six papers is a list: attached to none; the same list whose title names one
    paper is attached to that one only."""
    ids = [f"2611.{n:05d}" for n in range(1, 7)]
    stored = {f"arxiv:{i}" for i in ids}
    body = "今週読んだ論文: " + "、".join(f"https://arxiv.org/abs/{i}" for i in ids)
    survey = _article("zenn:list", "今週のLLM論文まとめ", body)
    titled = _article("zenn:list2", f"arXiv {ids[2]} の解説と関連研究まとめ", body)
    assert ([], [f"arxiv:{ids[2]}"]) == (
        _attached(survey, _titles(), stored),
        _attached(titled, _titles(), stored),
    )
    assert 6 == mentions_of(survey, _titles(), stored)[0].papers_named


def test_a_short_or_partial_title_never_matches() -> None:
    """A title shorter than min_title_chars, or only part of a title, names no paper."""
    titles = _titles(("arxiv:2611.00009", "LoRA"), PAPER)
    article = _article("zenn:x", "LoRAでRAGを作る", "Adaptive chunk reranking は便利です。")
    assert [] == mentions_of(article, titles, {"arxiv:2611.00009", PAPER[0]})


def _recorded_articles() -> list[Item]:
    articles = []
    for folder in (FIXTURES, SHARED):
        feed = folder / "zenn" / "zenn-topic-feed_swift_2023-12-29_20items.xml"
        if feed.exists():
            for n, entry in enumerate(feedparser.parse(feed.read_bytes()).entries):
                articles.append(_article(f"zenn:feed{n}", entry.title, entry.get("summary", "")))
        listing = folder / "zenn" / "zenn-api-articles_username-katzumi_count96_22articles.json"
        if listing.exists():
            for raw in json.loads(listing.read_text(encoding="utf-8"))["articles"]:
                articles.append(_article(f"zenn:{raw['slug']}", raw["title"], ""))
        qiita = folder / "qiita" / "qiita-api-v2-items_query-user-nishitaku_EXCERPT-edited.json.txt"
        if qiita.exists():
            text = re.sub(r",\s*\]", "]", qiita.read_text(encoding="utf-8"))
            for raw in json.loads(text):
                articles.append(_article("qiita:" + str(raw["id"]), raw["title"], raw.get("body", "")))
    return articles


def _recorded_papers() -> list[tuple[str, str]]:
    papers = []
    for path in sorted((FIXTURES / "arxiv").glob("*.xml")):
        for entry in feedparser.parse(path.read_bytes()).entries:
            if "title" in entry and "id" in entry and "/abs/" in entry.id:
                papers.append(("arxiv:" + entry.id.rsplit("/abs/", 1)[1].rsplit("v", 1)[0], entry.title))
    return papers


def test_recorded_articles_attach_to_no_recorded_paper_and_a_generated_explainer_does() -> None:
    """The real Zenn/Qiita recordings name no arXiv paper: nothing is attached (no false links); a
    generated explainer quoting a recorded paper's exact title is."""
    papers = _recorded_papers()
    articles = _recorded_articles()
    titles, stored = _titles(*papers), {pid for pid, _ in papers}
    assert len(articles) >= 40 and len(papers) >= 10
    assert [] == [(a.id, p) for a in articles for p in _attached(a, titles, stored)]
    pid, title = papers[0]
    explainer = _article("zenn:gen", "論文紹介", f"今回は「{title}」を紹介します。")
    assert [pid] == _attached(explainer, titles, stored)


CATS = (Category(id="rag", name="RAG", description="d", cap=2),)


def _entry(item: Item, rank: float) -> DigestEntry:
    return DigestEntry(item, "rag", "新手法を提案。", Scores(4, 4, 5, 5), rank=rank)


def _linked(item: Item, likes: int | None = None) -> LinkedItem:
    return LinkedItem(item.id, item.source.value, item.title, item.url, likes)


def test_an_article_under_its_paper_frees_its_slot_for_the_next_item() -> None:
    """Cap 2: paper, its article, another paper -> the paper (with 解説記事) and the other paper."""
    paper = build_item(PAPER[0], title=PAPER[1])
    article = build_item("zenn:exp", title="解説")
    other = build_item("arxiv:2611.00077")
    kept = [_entry(paper, 5.0), _entry(article, 4.0), _entry(other, 3.0)]
    index = LinkIndex(explainers={paper.id: (_linked(article, 42),)}, config=LinksConfig())
    sections, shown, _ = apply_links(kept, index, lambda es: build_sections(es, CATS, 40))
    entries = sections[0].entries
    assert [paper.id, other.id] == [e.item.id for e in entries]
    assert ((article.id,), 2) == (tuple(a.item_id for a in entries[0].explainers), len(shown))


def test_links_round_trip_through_digest_json_and_show_in_markdown() -> None:
    """digest.json carries explainers, papers and 今週の解説記事 exactly; digest.md shows them inert."""
    digest = linked_digest()
    data = json.loads(json.dumps(digest_to_dict(digest), ensure_ascii=False))
    assert digest == digest_from_dict(data)
    markdown = to_markdown(digest)
    assert "解説記事: [&lt;\\!channel&gt;" in markdown and "## 📝 今週の解説記事" in markdown
    assert "<b>" not in markdown


def test_the_store_query_attaches_the_explainer_and_not_the_survey_list(store_url: str) -> None:
    """Through `article_links`: an explainer naming one stored paper is attached; a list naming six
    (none in its title) is not; raising max_papers needs no re-linking."""
    ids = [f"2611.{n:05d}" for n in range(1, 7)]
    papers = [
        build_item(f"arxiv:{i}", title=f"Paper number {i} about retrieval", published=WHEN) for i in ids
    ]
    explainer = _article("zenn:one", "論文解説", f"arXiv:{ids[0]} を解説。")
    survey = _article("zenn:list", "論文まとめ", " ".join(f"arXiv:{i}" for i in ids))
    with ItemStore(store_url) as store:
        store.upsert([*papers, explainer, survey])
        refresh_links(
            store.engine, [explainer, survey], LinksConfig(), since=WHEN - timedelta(days=30), now=WHEN
        )
        end = WHEN + timedelta(days=1)
        rows = attached(store.engine, paper_ids=[p.id for p in papers], max_papers=3, before=end)
        wide = attached(store.engine, paper_ids=[p.id for p in papers], max_papers=6, before=end)
    assert [("zenn:one", f"arxiv:{ids[0]}")] == [(r.article_id, r.paper_id) for r in rows]
    assert 7 == len(wide)


def test_archive_search_finds_a_paper_through_its_linked_article(tmp_path: Path) -> None:
    """Searching a word only the 解説記事's title has finds the paper's entry in the posted digest."""
    digest = linked_digest()
    article = LinkedItem("zenn:s", "zenn", "投機的デコーディング入門", "https://zenn.dev/x/articles/s", 3)
    first = replace(digest.sections[0].entries[0], explainers=(article,), papers=())
    section = replace(digest.sections[0], entries=(first,))
    data = digest_to_dict(replace(digest, sections=(section,)))
    with ItemStore(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        record_intent(store.engine, channel="#d", period="2026-11-16..2026-11-22", digest=data, item_ids=[])
        mark_posted(store.engine, "#d", "2026-11-16..2026-11-22", channel_id="C1", ts=["1.0"], permalink=None)
        hits = search(store.engine, "投機的デコーディング")
    assert [first.item.id] == [hit.item_id for hit in hits]


def test_an_explainer_titled_exactly_like_its_paper_is_stored_and_linked(tmp_path: Path) -> None:
    """A Qiita article titled exactly like a paper survives the store's title dedupe and is the
    paper's 解説記事 (it used to be merged into the paper and vanish)."""
    paper = build_item(PAPER[0], title=PAPER[1], published=WHEN)
    article = _article("qiita:0123456789abcdef0123", PAPER[1], "この論文を読んで再現しました。")
    window = Window(WHEN - timedelta(days=3), WHEN + timedelta(days=4))
    with ItemStore(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.upsert([paper])
        store.upsert([article])
        index = build_index(store.engine, window, [paper], LinksConfig(), period="p", now=WHEN)

    expected = [(article.id, "title")]
    assert expected == [(linked.item_id, linked.how) for linked in index.explainers.get(paper.id, ())]
