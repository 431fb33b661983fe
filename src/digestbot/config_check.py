"""`digestbot config check`: everything a run will load, checked without running it.

`check_config(environ)` loads the config and the categories, every agent file (and renders each
with sample values, as the agents will), checks the schedule, the model strings and their provider
packages, and which secrets the configured run needs. It returns every problem, one line each,
instead of stopping at the first. Nothing here imports langchain, LangGraph or SQLAlchemy: the
check starts in well under a second (see `benchmarks/cli_startup.py`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from digestbot.agents.providers import known_providers, model_problem
from digestbot.config_schema import store_url_problem
from digestbot.settings import (
    Category,
    ConfigError,
    Settings,
    default_config_dir,
    is_loopback_url,
    load_app_config,
    load_categories,
    load_settings,
)

# What the code passes to each agent's template (agents/llm_agents.py, trends_insight.py).
PROVIDED: dict[str, tuple[str, ...]] = {
    "classifier": ("categories", "items", "corrections"),
    "summarizer": ("items", "max_chars"),
    "judge": ("items", "interests", "liked", "disliked"),
    "trends": ("weeks", "counts", "terms", "entries", "max_chars", "feedback", "previous"),
}
# A summarizer or judge file written for one item per call (before batches) is still accepted.
ONE_ITEM: dict[str, tuple[str, ...]] = {
    "summarizer": ("item", "max_chars", "feedback", "previous"),
    "judge": ("item", "blurb", "category", "interests", "liked", "disliked"),
}
OPTIONAL_AGENTS = ("trends",)
KEY_PROVIDERS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
TOKEN_PREFIXES = {"SLACK_BOT_TOKEN": ("xoxb-", "xoxp-"), "SLACK_APP_TOKEN": ("xapp-",)}


@dataclass(frozen=True)
class Finding:
    """One line of the report: an `error` makes the check fail, a `warning` does not."""

    level: Literal["error", "warning"]
    text: str


@dataclass
class Report:
    settings: Settings | None = None
    findings: list[Finding] = field(default_factory=list)

    def error(self, text: str) -> None:
        self.findings.append(Finding("error", text))

    def warning(self, text: str) -> None:
        self.findings.append(Finding("warning", text))

    @property
    def errors(self) -> list[str]:
        return [f.text for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[str]:
        return [f.text for f in self.findings if f.level == "warning"]


def check_config(environ: Mapping[str, str] | None = None, config_dir: Path | None = None) -> Report:
    """Every problem of the configuration a run would load (config, categories, agents, model, secrets)."""
    env = os.environ if environ is None else environ
    folder = config_dir or default_config_dir(env)
    report = Report()
    try:
        report.settings = load_settings(folder, env)
    except ConfigError:
        _files(report, folder, env)  # which file(s) failed, each on its line
    settings = report.settings
    agents_dir = settings.agents_dir if settings else _agents_dir(folder, env)
    if agents_dir is not None:
        _agents(report, agents_dir, settings)
    if settings is not None and agents_dir is not None:
        _schedule(report, settings)
        if problem := store_url_problem(settings.store_url):
            report.error(f"DATABASE_URL / general.store_url: {problem}")
        _models(report, settings, agents_dir)
        _secrets(report, settings)
    return report


def _files(report: Report, folder: Path, env: Mapping[str, str]) -> None:
    """Each file on its own, so that a broken config and broken categories are both reported."""
    problems = []
    for load in (
        lambda: load_app_config(folder / "digestbot.toml", env),
        lambda: load_categories(folder / "categories.toml"),
    ):
        try:
            load()
        except ConfigError as exc:
            problems.append(str(exc))
    if not problems:  # both files load alone: the problem is between them (e.g. other_category)
        try:
            load_settings(folder, env)
        except ConfigError as exc:
            problems.append(str(exc))
    for problem in problems:
        report.error(problem)


def _agents_dir(folder: Path, env: Mapping[str, str]) -> Path | None:
    """Where the agents are when the config does not load: its `general.agents_dir` if readable."""
    import tomllib

    try:
        general = tomllib.loads((folder / "digestbot.toml").read_text(encoding="utf-8")).get("general", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        general = {}
    configured = general.get("agents_dir") if isinstance(general, dict) else None
    path = Path(env.get("DIGESTBOT_AGENTS_DIR") or (configured if isinstance(configured, str) else "agents"))
    for candidate in (path, folder.parent / path):
        if candidate.is_dir():
            return candidate
    return None  # reported once the config loads


def _agents(report: Report, directory: Path, settings: Settings | None) -> None:
    from digestbot.agents.spec import EXPECTED_OUTPUT, load_agent

    samples = sample_variables(settings.categories if settings else ())
    for name, provided in PROVIDED.items():
        path = directory / f"{name}.md"
        if not path.is_file():
            if name not in OPTIONAL_AGENTS:
                report.error(f"{path}: file not found (set general.agents_dir or DIGESTBOT_AGENTS_DIR)")
            continue
        try:
            spec = load_agent(path)
        except ConfigError as exc:
            report.error(str(exc))
            continue
        if name in EXPECTED_OUTPUT and spec.output != EXPECTED_OUTPUT[name]:
            report.error(f"{path}: front matter: output must be {EXPECTED_OUTPUT[name]!r} for the {name}")
        if name in ONE_ITEM and set(spec.variables) == set(ONE_ITEM[name]):
            provided = ONE_ITEM[name]  # noqa: PLW2901 - the one-item form of the same agent
        if set(spec.variables) != set(provided):
            odd = sorted(set(spec.variables) - set(provided)) or sorted(set(provided) - set(spec.variables))
            report.error(
                f"{path}: front matter: variables must be exactly what digestbot passes "
                f"({', '.join(provided)}); {odd[0]!r} differs"
            )
            continue
        for variant in samples:
            try:
                spec.render_text(**{key: variant[key] for key in provided})
            except ConfigError as exc:
                report.error(str(exc))
                break


def sample_variables(categories: tuple[Category, ...] | list[Category] = ()) -> list[dict[str, Any]]:
    """Values shaped like the agents' real variables: one set with empty extras, one with all filled."""
    cats = [
        c.model_dump(include={"id", "name", "description", "include", "exclude", "examples"})
        for c in categories
    ] or [
        {
            "id": "llm",
            "name": "LLM",
            "description": "言語モデル",
            "include": [],
            "exclude": [],
            "examples": [],
        }
    ]
    item = {
        "id": "1",
        "source": "arxiv",
        "title": "Speculative decoding for faster LLM inference",
        "text": "We reduce decoding latency by 2.1x with a small draft model.",
        "tags": ["cs.CL"],
        "language": "en",
        "published": "2026-11-20",
    }
    example = {"title": item["title"], "category": cats[0]["id"], "source": "arxiv"}
    entry = {
        "n": 1,
        "category": cats[0]["name"],
        "source": "arxiv",
        "title": item["title"],
        "blurb": "紹介文。",
    }
    base: dict[str, Any] = {
        "categories": cats,
        "items": [item],
        "item": item,
        "category": cats[0],
        "blurb": "小さな下書きモデルで推論を2.1倍速くする手法を提案。",
        "interests": ["LLM"],
        "max_chars": 120,
        "weeks": 2,
        "counts": [{"name": cats[0]["name"], "count": 3, "baseline": 1.5, "change": "↑1.5"}],
        "terms": [{"term": "RAG", "count": 3, "baseline": 1.0}],
        "entries": [entry],
    }
    empty = {**base, "feedback": "", "previous": "", "liked": [], "disliked": [], "corrections": []}
    full = {
        **base,
        "feedback": "数値を原文どおりに。",
        "previous": "前回の紹介文。",
        "liked": [example],
        "disliked": [example],
        "corrections": [
            {"title": item["title"], "text": "", "wrong": cats[0]["id"], "right": cats[-1]["id"]}
        ],
    }
    for variant in (empty, full):  # the batched summarizer and judge read these per item
        notes = {key: variant[key] for key in ("blurb", "category", "feedback", "previous")}
        variant["items"] = [item | notes, {**item, "id": "2"} | notes]
    return [empty, full]


def _schedule(report: Report, settings: Settings) -> None:
    from digestbot.cron import check_settings_schedule

    try:
        check_settings_schedule(settings)
    except ConfigError as exc:
        report.error(str(exc))


def _models(report: Report, settings: Settings, agents_dir: Path) -> None:
    """`provider:model` strings: the configured one (if any) and every agent file's override."""
    llm = settings.app.llm
    config_file = settings.config_dir / "digestbot.toml"
    models: list[tuple[str, str]] = []
    if llm.model:
        models.append((f"{config_file}: llm.model", llm.model))
    models += [(f"{path}: model", model) for path, model in _agent_models(agents_dir)]
    known = known_providers()
    for where, model in models:
        if problem := model_problem(model, known, via_base_url=bool(llm.base_url)):
            report.error(f"{where}: {problem}")


def _agent_models(directory: Path) -> list[tuple[Path, str]]:
    from digestbot.agents.spec import load_agent

    found = []
    for name in PROVIDED:
        try:
            spec = load_agent(directory / f"{name}.md")
        except ConfigError:
            continue  # reported by _agents
        if spec.model:
            found.append((spec.path, spec.model))
    return found


def _secrets(report: Report, settings: Settings) -> None:
    secrets = settings.secrets
    for env, value in (
        ("SLACK_BOT_TOKEN", secrets.slack_bot_token),
        ("SLACK_APP_TOKEN", secrets.slack_app_token),
    ):
        if value is not None and not value.get_secret_value().startswith(TOKEN_PREFIXES[env]):
            want = " or ".join(f"{p}…" for p in TOKEN_PREFIXES[env])
            report.error(f"{env}: not a {want} token (are the bot and app tokens swapped?)")
    if secrets.slack_bot_token is None:
        report.warning(
            "SLACK_BOT_TOKEN is unset: `run`, `post` and `serve` cannot post (`run --dry-run` works)"
        )
    if secrets.slack_app_token is None:
        report.warning("SLACK_APP_TOKEN is unset: `serve` runs the schedule but no /digest (Socket Mode)")
    _llm_key(report, settings)


def _llm_key(report: Report, settings: Settings) -> None:
    llm = settings.app.llm
    if settings.offline or settings.secrets.digestbot_llm_api_key:
        return
    provider = llm.model.partition(":")[0].strip().lower()
    if llm.base_url:
        if not is_loopback_url(llm.base_url):
            report.warning(
                f"llm.base_url {llm.base_url} is not on this machine and DIGESTBOT_LLM_API_KEY is unset "
                "(fine if that server needs no key)"
            )
        return
    env = KEY_PROVIDERS.get(provider)
    key = {"openai": settings.secrets.openai_api_key, "anthropic": settings.secrets.anthropic_api_key}.get(
        provider
    )
    if env and key is None:
        report.error(
            f"llm.model {llm.model!r} needs an API key: set DIGESTBOT_LLM_API_KEY or {env} (in .env)"
        )
