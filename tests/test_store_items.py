from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, insert, inspect, select, text

from digestbot.domain import Item, Popularity, SourceName, Window
from digestbot.store import SCHEMA_VERSION, ItemStore, StoreConfigError, UpsertCounts
from digestbot.store.schema import aliases as aliases_table
from digestbot.store.schema import http_validators, schema_version
from digestbot.store.schema import items as items_table

JST = timezone(timedelta(hours=9))
T0 = datetime(2025, 11, 17, 0, 0, tzinfo=UTC)


class StepClock:
    """A clock that returns `start`, then moves forward one hour per call."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        current = self.now
        self.now += timedelta(hours=1)
        return current


@pytest.fixture
def store(store_url):
    with ItemStore(store_url) as opened:
        yield opened


def test_second_upsert_of_same_items_adds_nothing(store, make_item):
    """Upserting the same items twice stores them once; the second pass counts only duplicates."""
    batch = [make_item("arxiv:2501.00001"), make_item("qiita:0123456789abcdef0123"), make_item("zenn:slug-a")]

    first = store.upsert(batch)
    second = store.upsert(batch)

    assert (UpsertCounts(new=3), UpsertCounts(duplicates=3), 3) == (first, second, store.count())


def test_item_round_trips_exactly(store):
    """An item read back equals the one stored: tuples, popularity, version, and the UTC offsets."""
    item = Item(
        id="qiita:0123456789abcdef0123",
        source=SourceName.QIITA,
        url="https://qiita.com/someone/items/0123456789abcdef0123",
        title="【LLM】RAG入門：基礎から実装まで",
        text="本文の抜粋…",
        published=datetime(2025, 11, 18, 9, 30, 15, 123456, tzinfo=JST),
        updated=datetime(2025, 11, 19, 0, 0, tzinfo=UTC),
        authors=("someone", "誰か"),
        language="ja",
        tags=("LLM", "RAG"),
        popularity=Popularity(likes=12, stocks=3, bookmarks=None, comments=0),
        version=None,
        mentioned_arxiv_ids=("2401.10491",),
        announce_type=None,
    )
    store.upsert([item])

    loaded = store.get(item.id)

    assert item == loaded
    assert (timedelta(hours=9), timedelta(0)) == (loaded.published.utcoffset(), loaded.updated.utcoffset())


def test_newer_arxiv_version_replaces_older(store, make_item):
    """v2 of a paper updates the row that v1 created, keeping the id without version."""
    v1 = make_item("arxiv:2501.00001", title="Old title", version=1)
    v2 = make_item("arxiv:2501.00001", title="New title", version=2, updated=T0 + timedelta(days=3))
    store.upsert([v1])

    counts = store.upsert([v2])

    assert UpsertCounts(updated=1) == counts
    assert v2 == store.get("arxiv:2501.00001")


def test_older_arxiv_version_arriving_late_does_not_downgrade(store, make_item):
    """v1 seen after v2 leaves v2's metadata in place and counts as a duplicate."""
    v2 = make_item("arxiv:2501.00001", title="New title", version=2, updated=T0 + timedelta(days=3))
    v1 = make_item("arxiv:2501.00001", title="Old title", version=1)
    store.upsert([v2])

    counts = store.upsert([v1])

    assert UpsertCounts(duplicates=1) == counts
    assert v2 == store.get("arxiv:2501.00001")


def test_versioned_arxiv_ids_collapse_to_one_row(store, make_item):
    """`arxiv:2501.00001v1` and `...v3` are one paper stored as `arxiv:2501.00001`, version 3."""
    counts = store.upsert(
        [
            make_item("arxiv:2501.00001v1", source=SourceName.ARXIV, title="First"),
            make_item(
                "arxiv:2501.00001v3", source=SourceName.ARXIV, title="Third", updated=T0 + timedelta(days=9)
            ),
        ]
    )

    stored = store.get("arxiv:2501.00001v1")
    assert (UpsertCounts(new=1, duplicates=1), 1) == (counts, store.count())
    expected = ("arxiv:2501.00001", 3, "Third")
    assert expected == (stored.id, stored.version, stored.title)


def test_same_url_under_another_id_is_a_duplicate(store, make_item):
    """A second id for an already stored URL is recorded as an alias of the first item."""
    url = "https://zenn.dev/pub/articles/same-article"
    store.upsert([make_item("zenn:first", url=url)])

    counts = store.upsert([make_item("zenn:second", url=url + "/?utm_source=feed")])

    assert (UpsertCounts(duplicates=1), 1) == (counts, store.count())
    expected = "zenn:first"
    assert expected == store.get("zenn:second").id


def test_same_title_across_sources_is_a_duplicate_of_the_first(store, make_item):
    """A Zenn cross-post of a stored Qiita article (same normalized title) becomes an alias of it."""
    store.upsert([make_item("qiita:0123456789abcdef0123", title="【LLM】RAG入門：基礎から実装まで")])

    first = store.upsert([make_item("zenn:rag-intro", title="llm RAG入門 基礎から実装まで!")])
    again = store.upsert([make_item("zenn:rag-intro", title="llm RAG入門 基礎から実装まで!")])

    assert (UpsertCounts(duplicates=1), UpsertCounts(duplicates=1), 1) == (first, again, store.count())
    expected = "qiita:0123456789abcdef0123"
    assert expected == store.canonical_id("zenn:rag-intro")


PAPER_TITLE = "Speculative Decoding for Faster LLM Inference on Edge Devices"


@pytest.mark.parametrize("first", ["paper", "article"])
def test_an_article_titled_like_a_paper_is_not_merged_with_it(store, make_item, first):
    """An explainer titled exactly like a paper stays an article (and the paper a paper), whichever
    came first; the article's Zenn cross-post still merges into it."""
    paper = make_item("arxiv:2511.00222", title=PAPER_TITLE)
    article = make_item("qiita:0123456789abcdef0123", title=f"【{PAPER_TITLE}】")
    crosspost = make_item("zenn:speculative", title=PAPER_TITLE.lower())
    ordered = [paper, article] if first == "paper" else [article, paper]

    counts = [store.upsert([item]) for item in [*ordered, crosspost]]

    expected = (
        [UpsertCounts(new=1), UpsertCounts(new=1), UpsertCounts(duplicates=1)],
        ("arxiv:2511.00222", "qiita:0123456789abcdef0123", "qiita:0123456789abcdef0123"),
        2,
    )
    assert expected == (
        counts,
        (store.canonical_id(paper.id), store.canonical_id(article.id), store.canonical_id(crosspost.id)),
        store.count(),
    )


def test_an_article_and_a_paper_in_one_batch_are_not_merged(store, make_item):
    """In one batch too, the same title from arXiv and Qiita gives two items."""
    counts = store.upsert(
        [
            make_item("arxiv:2511.00222", title=PAPER_TITLE),
            make_item("qiita:aaaaaaaaaaaaaaaaaaaa", title=PAPER_TITLE),
        ]
    )

    assert (UpsertCounts(new=2), 2) == (counts, store.count())


def test_a_v2_store_drops_the_title_aliases_between_papers_and_articles(store_url, make_item):
    """Opening a v2 store forgets an article merged into a paper by title (and a paper into an
    article); the next fetch stores each as itself. A Qiita/Zenn cross-post alias is kept."""
    with ItemStore(store_url) as old:
        old.upsert([make_item("arxiv:2511.00222", title=PAPER_TITLE), make_item("qiita:q", title="記事")])
        with old.engine.begin() as conn:  # what v2's upsert wrote for the same titles
            rows = [
                ("qiita:hidden", "arxiv:2511.00222"),
                ("arxiv:2511.00999", "qiita:q"),
                ("zenn:z", "qiita:q"),
            ]
            for alias, target in rows:
                conn.execute(
                    insert(aliases_table).values(
                        alias_id=alias, canonical_id=target, reason="title", created=T0
                    )
                )
            conn.execute(delete(schema_version))
            conn.execute(insert(schema_version).values(version=2, applied_at=T0))
    with ItemStore(store_url) as store:
        kept = [store.canonical_id(i) for i in ("qiita:hidden", "arxiv:2511.00999", "zenn:z")]
        counts = store.upsert([make_item("qiita:hidden", title=PAPER_TITLE)])

    assert ([None, None, "qiita:q"], UpsertCounts(new=1)) == (kept, counts)


def test_same_title_within_one_source_is_not_a_duplicate(store, make_item):
    """Two Qiita articles sharing a title are different articles."""
    counts = store.upsert(
        [
            make_item("qiita:aaaaaaaaaaaaaaaaaaaa", title="LangGraphでエージェントを作る"),
            make_item("qiita:bbbbbbbbbbbbbbbbbbbb", title="LangGraphでエージェントを作る"),
        ]
    )

    assert UpsertCounts(new=2) == counts


def test_short_titles_are_not_matched_across_sources(store, make_item):
    """A generic short title (`RAG入門`) is not evidence that two items are the same."""
    counts = store.upsert(
        [make_item("qiita:aaaaaaaaaaaaaaaaaaaa", title="RAG入門"), make_item("zenn:x", title="RAG入門")]
    )

    assert UpsertCounts(new=2) == counts


def test_newer_data_updates_popularity_and_merges_tags(store_url, make_item):
    """Seeing an item again updates its like count, merges tags, keeps first_seen and moves last_seen."""
    clock = StepClock()
    with ItemStore(store_url, clock=clock) as store:
        store.upsert([make_item("qiita:aaaaaaaaaaaaaaaaaaaa", tags=("LLM",), popularity=Popularity(likes=3))])
        counts = store.upsert(
            [make_item("qiita:aaaaaaaaaaaaaaaaaaaa", tags=("RAG", "llm"), popularity=Popularity(likes=10))]
        )
        stored = store.get("qiita:aaaaaaaaaaaaaaaaaaaa")
        with store.engine.connect() as conn:
            seen = conn.execute(select(items_table.c.first_seen, items_table.c.last_seen)).one()

    assert UpsertCounts(updated=1) == counts
    assert (("RAG", "llm"), Popularity(likes=10)) == (stored.tags, stored.popularity)
    assert (T0, T0 + timedelta(hours=1)) == tuple(seen)


def test_unknown_counts_in_newer_data_keep_known_ones(store, make_item):
    """A feed sighting without like counts does not erase the counts the API gave earlier."""
    store.upsert([make_item("qiita:aaaaaaaaaaaaaaaaaaaa", popularity=Popularity(likes=7, stocks=2))])

    counts = store.upsert([make_item("qiita:aaaaaaaaaaaaaaaaaaaa", popularity=Popularity(comments=1))])

    stored = store.get("qiita:aaaaaaaaaaaaaaaaaaaa")
    assert UpsertCounts(updated=1) == counts
    assert Popularity(likes=7, stocks=2, comments=1) == stored.popularity


def test_sighting_without_text_keeps_the_stored_text(store, make_item):
    """A listing that carries no body (Zenn's JSON API) never erases the text a feed gave earlier."""
    store.upsert([make_item("zenn:some-slug", text="記事の冒頭の説明文。")])

    store.upsert([make_item("zenn:some-slug", text="", popularity=Popularity(likes=3))])

    stored = store.get("zenn:some-slug")
    assert ("記事の冒頭の説明文。", 3) == (stored.text, stored.popularity.likes)


def test_repeats_inside_one_batch_are_duplicates(store, make_item):
    """The same id twice in one upsert makes one row; every item is counted exactly once."""
    counts = store.upsert([make_item("zenn:a"), make_item("zenn:a"), make_item("zenn:b")])

    assert (UpsertCounts(new=2, duplicates=1), 2) == (counts, store.count())


def test_upsert_spanning_several_batches(store_url, make_item):
    """Items spread over many transactions are all stored and counted."""
    batch = [make_item(f"zenn:slug-{n}") for n in range(50)]
    with ItemStore(store_url, batch_size=7) as store:
        counts = store.upsert(batch)
        again = store.upsert(batch)

        assert (UpsertCounts(new=50), UpsertCounts(duplicates=50), 50) == (counts, again, store.count())


def test_items_in_window_selects_by_published_time_and_source(store, make_item):
    """The window is half-open [start, end); results are oldest first and can be limited to sources."""
    window = Window(T0, T0 + timedelta(days=7))
    before = make_item("zenn:before", published=T0 - timedelta(seconds=1))
    at_start = make_item("qiita:aaaaaaaaaaaaaaaaaaaa", published=T0.astimezone(JST))
    inside = make_item("arxiv:2501.00002", published=T0 + timedelta(days=3))
    at_end = make_item("zenn:at-end", published=window.end)
    store.upsert([inside, at_end, before, at_start])

    everything = store.items_in_window(window)
    papers = store.items_in_window(window, sources=[SourceName.ARXIV])

    assert ([at_start, inside], [inside]) == (everything, papers)


def test_fetch_run_log_keeps_newest_first(store):
    """Recorded fetch runs come back newest first with their counts, warnings and failure cause."""
    window = Window(T0, T0 + timedelta(days=7))
    store.record_fetch_run(
        SourceName.ARXIV,
        window,
        UpsertCounts(new=5, updated=1, duplicates=2),
        warnings=["empty page"],
        errors=[],
        started=T0,
        finished=T0 + timedelta(seconds=30),
    )
    store.record_fetch_run(
        SourceName.QIITA,
        window,
        UpsertCounts(),
        warnings=[],
        errors=["tag feed RAG: HTTP 500"],
        started=T0 + timedelta(minutes=1),
        finished=T0 + timedelta(minutes=2),
        failure="qiita.com/tags/LLM/feed: connection refused",
    )

    runs = store.recent_fetch_runs(10)

    expected_order = [SourceName.QIITA, SourceName.ARXIV]
    assert expected_order == [run.source for run in runs]
    assert (True, ("tag feed RAG: HTTP 500",), window) == (runs[0].failed, runs[0].errors, runs[0].window)
    assert (8, UpsertCounts(5, 1, 2), ("empty page",), None) == (
        runs[1].fetched,
        runs[1].counts,
        runs[1].warnings,
        runs[1].failure,
    )
    assert [runs[1]] == store.recent_fetch_runs(1, source=SourceName.ARXIV)


def test_opening_twice_migrates_once(store_url, make_item):
    """Reopening a store keeps its data and records the schema version exactly once."""
    with ItemStore(store_url) as first:
        first.upsert([make_item("zenn:a")])
    with ItemStore(store_url) as second:
        with second.engine.connect() as conn:
            versions = conn.execute(select(schema_version.c.version)).scalars().all()
        count = second.count()

    expected = ([SCHEMA_VERSION], 1)
    assert expected == (versions, count)


def test_reopening_creates_tables_missing_from_an_older_store(store_url):
    """A table added after a store was created appears when the store is next opened."""
    with ItemStore(store_url) as first, first.engine.begin() as conn:
        http_validators.drop(conn)
    with ItemStore(store_url) as second:
        tables = set(inspect(second.engine).get_table_names())

    assert {"items", "aliases", "fetch_runs", "result_cache", "http_validators"} <= tables


def test_a_v1_store_gains_the_title_key_backfilled_from_its_rows(store_url, make_item):
    """Opening a v1 store (no `items.title_key`) adds the indexed key on the first item of each
    (source, long title), so a stored title still makes a cross-post from another source a duplicate."""
    title = "LangGraphでエージェントを作る"
    with ItemStore(store_url, clock=StepClock()) as old:
        old.upsert([make_item("qiita:bbbbbbbbbbbbbbbbbbbb", title=title)])
        old.upsert(
            [make_item("qiita:aaaaaaaaaaaaaaaaaaaa", title=title), make_item("zenn:x", title="RAG入門")]
        )
        with old.engine.begin() as conn:  # back to the v1 schema, rows kept
            conn.execute(text("DROP INDEX ix_items_title_key"))
            conn.execute(text("ALTER TABLE items DROP COLUMN title_key"))
            conn.execute(delete(schema_version))
            conn.execute(insert(schema_version).values(version=1, applied_at=T0))
    with ItemStore(store_url) as store:
        with store.engine.connect() as conn:
            keys = dict(conn.execute(select(items_table.c.id, items_table.c.title_key)).all())
            versions = conn.execute(select(schema_version.c.version)).scalars().all()
        counts = store.upsert([make_item("zenn:agents", title="LangGraph で エージェントを作る！")])
        indexes = {ix["name"] for ix in inspect(store.engine).get_indexes("items")}

    key = "langgraphでエージェントを作る"
    expected_keys = {"qiita:bbbbbbbbbbbbbbbbbbbb": key, "qiita:aaaaaaaaaaaaaaaaaaaa": None, "zenn:x": None}
    assert (expected_keys, list(range(1, SCHEMA_VERSION + 1))) == (keys, sorted(versions))
    assert (UpsertCounts(duplicates=1), "qiita:bbbbbbbbbbbbbbbbbbbb") == (
        counts,
        store.canonical_id("zenn:agents"),
    )
    assert "ix_items_title_key" in indexes


def test_concurrent_opens_of_a_new_store_all_succeed(store_url):
    """Several processes opening an empty store at once do not trip over each other's migration."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_store() -> None:
        barrier.wait()
        try:
            ItemStore(store_url).close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with ItemStore(store_url) as store, store.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(schema_version)).scalar_one()
    expected = ([], 1)
    assert expected == (errors, rows)


def test_unusable_store_url_is_a_config_error():
    """A URL with an unknown scheme fails with StoreConfigError naming the URL, password hidden."""
    with pytest.raises(StoreConfigError, match=r"nosuchdb://user:\*\*\*@host/db"):
        ItemStore("nosuchdb://user:secret@host/db")
