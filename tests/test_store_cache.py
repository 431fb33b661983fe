from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digestbot.store import HttpValidatorCache, ItemStore, ResultCache


@pytest.fixture
def cache(store_url):
    cache = ResultCache(store_url)
    yield cache
    cache.close()


def test_result_cache_misses_then_returns_what_was_put(cache):
    """An unknown key is a miss (None); a stored JSON value comes back equal."""
    value = {"primary": "rag", "secondary": ["eval"], "confidence": 0.8, "reason": "検索拡張"}

    miss = cache.get("classifier:abc")
    cache.put("classifier:abc", value)

    assert (None, value) == (miss, cache.get("classifier:abc"))


def test_result_cache_put_overwrites(cache):
    """Putting a key again replaces its value."""
    cache.put("summarizer:abc", "古い要約。")
    cache.put("summarizer:abc", "新しい要約。")

    expected = ("新しい要約。", 1)
    assert expected == (cache.get("summarizer:abc"), cache.count())


def test_result_cache_get_many_returns_only_hits(cache):
    """get_many returns the keys that have values, across more keys than one query holds."""
    cache.put_many({f"k{n}": n for n in range(600)})

    found = cache.get_many(["k0", "k599", "missing", "k0"])

    expected = {"k0": 0, "k599": 599}
    assert expected == found


def test_result_cache_refuses_none(cache):
    """None means 'not cached', so it cannot be stored."""
    with pytest.raises(ValueError, match="None"):
        cache.put("k", None)


def test_result_cache_delete(cache):
    """A deleted key is a miss again."""
    cache.put("k", [1, 2])
    cache.delete("k")

    assert cache.get("k") is None


def test_result_cache_persists_and_shares_the_item_store_engine(store_url):
    """A cache on the ItemStore's engine sees values another cache instance wrote to the same database."""
    writer = ResultCache(store_url)
    writer.put("judge:xyz", {"relevance": 4})
    writer.close()
    with ItemStore(store_url) as store:
        reader = ResultCache(store.engine)

        expected = {"relevance": 4}
        assert expected == reader.get("judge:xyz")


def test_validator_cache_round_trip_and_overwrite(store_url):
    """Validators are remembered per URL, overwritten by newer ones, and None means never seen."""
    fixed = datetime(2025, 11, 20, tzinfo=UTC)
    validators = HttpValidatorCache(store_url, clock=lambda: fixed)
    feed = "http://127.0.0.1:8080/tags/LLM/feed"

    unseen = validators.get(feed)
    validators.put(feed, '"v1"', None)
    first = validators.get(feed)
    validators.put(feed, '"v2"', "Thu, 20 Nov 2025 00:00:00 GMT")
    second = validators.get(feed)
    validators.close()

    expected = (None, ('"v1"', None), ('"v2"', "Thu, 20 Nov 2025 00:00:00 GMT"))
    assert expected == (unseen, first, second)


def test_validator_cache_survives_reopening(store_url):
    """Validators written by one run are there for the next (a new engine on the same database)."""
    first = HttpValidatorCache(store_url)
    first.put("http://127.0.0.1:1/feed", None, "Wed, 19 Nov 2025 00:00:00 GMT")
    first.close()
    second = HttpValidatorCache(store_url)

    expected = (None, "Wed, 19 Nov 2025 00:00:00 GMT")
    assert expected == second.get("http://127.0.0.1:1/feed")
    second.close()


def test_validator_cache_forgets_url_without_validators(store_url):
    """Putting neither an ETag nor a Last-Modified forgets the URL."""
    validators = HttpValidatorCache(store_url)
    validators.put("http://127.0.0.1:1/feed", '"v1"', None)
    validators.put("http://127.0.0.1:1/feed", None, None)

    assert validators.get("http://127.0.0.1:1/feed") is None
    validators.close()


def test_validator_cache_keeps_the_body_with_its_validators(store_url):
    """The body put with validators comes back with its headers; new validators without one drop it,
    and forgetting the URL forgets the body too."""
    validators = HttpValidatorCache(store_url)
    feed = "http://127.0.0.1:1/feed"
    body = ("<rss>\u65e5\u672c</rss>".encode(), {"content-type": "application/xml; charset=utf-8"})

    validators.put(feed, '"v1"', None, body)
    kept = validators.body(feed)
    validators.put(feed, '"v2"', None)
    dropped = validators.body(feed)
    validators.put(feed, '"v3"', None, body)
    validators.put(feed, None, None)
    forgotten = (validators.get(feed), validators.body(feed))
    validators.close()

    expected = (body, None, (None, None))
    assert expected == (kept, dropped, forgotten)
