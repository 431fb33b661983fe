"""Which `provider:model` strings can be built: the providers `init_chat_model` knows, and whether
each one's package is installed, found without importing langchain (for `config check`)."""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Mapping
from pathlib import Path

EXTRAS = {"langchain-anthropic": "anthropic", "langchain-ollama": "ollama"}  # pip install 'digestbot[…]'


def model_problem(model: str, known: Mapping[str, str], *, via_base_url: bool = False) -> str | None:
    """Why `model` cannot be built (None when it can): form, provider, provider package."""
    provider, sep, name = model.partition(":")
    provider = provider.strip().lower()
    if not sep or not provider or not name.strip():
        return f'{model!r} is not "provider:model" (e.g. "openai:gpt-4o-mini", "anthropic:claude-haiku-4-5")'
    if via_base_url:  # reached through the OpenAI-compatible API at llm.base_url
        provider = "openai"
    if known and provider not in known:
        return f"unknown provider {provider!r} (init_chat_model knows: {', '.join(sorted(known))})"
    package = known.get(provider, f"langchain_{provider}")
    if importlib.util.find_spec(package.split(".")[0]) is None:
        dist = package.split(".")[0].replace("_", "-")
        extra = EXTRAS.get(dist)
        hint = f"pip install 'digestbot[{extra}]'" if extra else f"pip install {dist}"
        return f"provider {provider!r} needs the package {dist}, which is not installed ({hint})"
    return None


def known_providers() -> dict[str, str]:
    """provider -> module, read from langchain's `init_chat_model` registry without importing it.

    Importing `langchain.chat_models` takes ~2 s (it loads langchain_core's runnables); the registry
    is a literal dict in its source, so it is read with `ast`. Empty when langchain is not installed
    or the registry moved (then any provider is accepted and only its package is checked).
    """
    spec = importlib.util.find_spec("langchain")
    if spec is None or not spec.submodule_search_locations:
        return {}
    source = Path(next(iter(spec.submodule_search_locations))) / "chat_models" / "base.py"
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return {}
    for node in tree.body:
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if isinstance(target, ast.Name) and target.id == "_BUILTIN_PROVIDERS" and isinstance(value, ast.Dict):
            return {
                key.value: entry.elts[0].value
                for key, entry in zip(value.keys, value.values, strict=True)
                if isinstance(key, ast.Constant)
                and isinstance(key.value, str)
                and isinstance(entry, ast.Tuple)
                and isinstance(entry.elts[0], ast.Constant)
                and isinstance(entry.elts[0].value, str)
            }
    return {}
