"""A copy of the shipped `agents/` whose summarizer and judge take one item per call.

Tests that script the model item by item (one `Blurb`, one `Verdict` per item, faults matched to one
item's title) run on it: it is the per-item path of the same code (`batch_size: 1`). The batched
path (several items per call, each repaired alone) has its own tests (tests/test_agents_llm_batch.py).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def per_item_agents() -> Path:
    dest = Path(tempfile.mkdtemp(prefix="digestbot-agents-")) / "agents"
    shutil.copytree(ROOT / "agents", dest)
    for name in ("summarizer", "judge"):
        path = dest / f"{name}.md"
        text = re.sub(
            r"^batch_size:.*$", "batch_size: 1", path.read_text(encoding="utf-8"), count=1, flags=re.M
        )
        path.write_text(text, encoding="utf-8")
    return dest
