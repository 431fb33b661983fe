"""Persistent caches in the store: agent results by key, HTTP validators (ETag/Last-Modified) and the body
they validate by URL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select

from digestbot.store.items import utc_now
from digestbot.store.schema import http_bodies, http_validators, open_engine, result_cache, upsert_statement

JsonValue = dict[str, Any] | list[Any] | str | int | float | bool

_CHUNK = 500  # keys per IN (...) query


class _EngineOwner:
    def __init__(self, url: str | Engine, clock: Callable[[], datetime]) -> None:
        self._owns_engine = isinstance(url, str)
        self._engine = open_engine(url) if isinstance(url, str) else url
        self._clock = clock

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()


class ResultCache(_EngineOwner):
    """Key -> JSON value (agent results). Keys should include everything that changes the value
    (prompt hash, model, item content hash). `None` is not a storable value: `get` returns it for a miss.
    """

    def __init__(self, url: str | Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(url, clock)

    def get(self, key: str) -> JsonValue | None:
        with self._engine.connect() as conn:
            value: JsonValue | None = conn.execute(
                select(result_cache.c.value).where(result_cache.c.key == key)
            ).scalar()
            return value

    def get_many(self, keys: Iterable[str]) -> dict[str, JsonValue]:
        """The cached values for those keys that have one."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, JsonValue] = {}
        with self._engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                query = select(result_cache.c.key, result_cache.c.value).where(result_cache.c.key.in_(chunk))
                found.update({row.key: row.value for row in conn.execute(query)})
        return found

    def put(self, key: str, value: JsonValue) -> None:
        """Store or overwrite one value."""
        self.put_many({key: value})

    def put_many(self, values: Mapping[str, JsonValue]) -> None:
        """Store or overwrite several values in one transaction."""
        if not values:
            return
        if any(value is None for value in values.values()):
            raise ValueError("ResultCache cannot store None (it means 'not cached')")
        now = self._clock()
        rows = [{"key": key, "value": value, "stored_at": now} for key, value in values.items()]
        with self._engine.begin() as conn:
            stmt = upsert_statement(conn, result_cache)
            stmt = stmt.on_conflict_do_update(
                index_elements=[result_cache.c.key],
                set_={"value": stmt.excluded.value, "stored_at": stmt.excluded.stored_at},
            )
            conn.execute(stmt, rows)

    def delete(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(result_cache).where(result_cache.c.key == key))

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(result_cache)).scalar_one())


class HttpValidatorCache(_EngineOwner):
    """The last ETag / Last-Modified seen per URL, for conditional GETs across runs, and the body they
    validate (a 304 answer means "your copy is current": the copy must be there to be used)."""

    def __init__(self, url: str | Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(url, clock)

    def get(self, url: str) -> tuple[str | None, str | None] | None:
        """(etag, last_modified) from the last response for `url`, or None if never seen."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(http_validators.c.etag, http_validators.c.modified).where(http_validators.c.url == url)
            ).first()
        return (row.etag, row.modified) if row else None

    def body(self, url: str) -> tuple[bytes, dict[str, str]] | None:
        """(content, headers) of the response the validators of `url` came with, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(http_bodies.c.content, http_bodies.c.headers).where(http_bodies.c.url == url)
            ).first()
        return (bytes(row.content), dict(row.headers)) if row else None

    def put(
        self,
        url: str,
        etag: str | None,
        modified: str | None,
        body: tuple[bytes, Mapping[str, str]] | None = None,
    ) -> None:
        """Remember the validators of a response (and its body) in one transaction; with neither
        validator, forget the URL. Validators put without a body drop the body kept before."""
        now = self._clock()
        with self._engine.begin() as conn:
            conn.execute(delete(http_bodies).where(http_bodies.c.url == url))
            if etag is None and modified is None:
                conn.execute(delete(http_validators).where(http_validators.c.url == url))
                return
            stmt = upsert_statement(conn, http_validators)
            stmt = stmt.on_conflict_do_update(
                index_elements=[http_validators.c.url],
                set_={
                    "etag": stmt.excluded.etag,
                    "modified": stmt.excluded.modified,
                    "stored_at": stmt.excluded.stored_at,
                },
            )
            conn.execute(stmt, {"url": url, "etag": etag, "modified": modified, "stored_at": now})
            if body is not None:
                content, headers = body
                row = {"url": url, "content": content, "headers": dict(headers), "stored_at": now}
                conn.execute(http_bodies.insert().values(row))
