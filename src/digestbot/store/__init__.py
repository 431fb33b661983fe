"""The item store (SQLAlchemy: SQLite by default, PostgreSQL via DATABASE_URL) and its caches."""

from digestbot.store.cache import HttpValidatorCache, JsonValue, ResultCache
from digestbot.store.items import FetchRun, ItemStore, UpsertCounts
from digestbot.store.schema import SCHEMA_VERSION, StoreConfigError, StoreError, migrate, open_engine

__all__ = [
    "SCHEMA_VERSION",
    "FetchRun",
    "HttpValidatorCache",
    "ItemStore",
    "JsonValue",
    "ResultCache",
    "StoreConfigError",
    "StoreError",
    "UpsertCounts",
    "migrate",
    "open_engine",
]
