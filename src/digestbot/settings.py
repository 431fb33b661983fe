"""Typed configuration, read once at the edge.

`load_settings()` reads `config/digestbot.toml` and `config/categories.toml` (or the folder in
`DIGESTBOT_CONFIG_DIR`), applies the documented environment overrides (endpoints, store URL),
reads secrets from the environment or `.env`, validates everything, and returns one frozen
`Settings`. Nothing below this module reads `os.environ`. The models of the files themselves are
in `config_schema.py` and re-exported here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from digestbot import defaults
from digestbot.config_schema import (
    DEFAULT_INTERESTS,
    AppConfig,
    ArxivConfig,
    CategoriesFile,
    Category,
    CronConfig,
    FeedbackConfig,
    GeneralConfig,
    HttpConfig,
    JudgeConfig,
    LLMConfig,
    PipelineConfig,
    Positive,
    PrefilterConfig,
    PrerankConfig,
    Price,
    QiitaConfig,
    ScheduleConfig,
    Score,
    Seconds,
    SlackConfig,
    SourcesConfig,
    TrendsConfig,
    ZennConfig,
    is_loopback_url,
)
from digestbot.redaction import Scrubber, url_password


class ConfigError(Exception):
    """A configuration problem, phrased as one line naming the file and the key."""


class Secrets(BaseSettings):
    """Secrets come only from the environment or `.env`; never from config files, never printed."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True)

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None
    digestbot_llm_api_key: SecretStr | None = None
    qiita_token: SecretStr | None = None
    digestbot_feedback_salt: SecretStr | None = None  # key of the voter hash (HMAC); optional

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def redacted(self) -> dict[str, str]:
        return {name: ("set (redacted)" if value else "unset") for name, value in self}


# Endpoint and store overrides: environment variable -> dotted config path. Documented in the README.
ENV_OVERRIDES: dict[str, str] = {
    "DIGESTBOT_ARXIV_API_URL": "sources.arxiv.api_url",
    "DIGESTBOT_QIITA_BASE_URL": "sources.qiita.base_url",
    "DIGESTBOT_ZENN_BASE_URL": "sources.zenn.base_url",
    "DIGESTBOT_SLACK_API_URL": "slack.api_url",
    "DIGESTBOT_SLACK_CHANNEL": "slack.channel",
    "DIGESTBOT_LLM_MODEL": "llm.model",
    "DIGESTBOT_LLM_BASE_URL": "llm.base_url",
    "DIGESTBOT_DATA_DIR": "general.data_dir",
    "DIGESTBOT_AGENTS_DIR": "general.agents_dir",
    "DATABASE_URL": "general.store_url",
}


class Settings(BaseModel):
    """Everything a run needs, validated."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    config_dir: Path
    app: AppConfig
    categories: tuple[Category, ...]
    secrets: Secrets

    @property
    def data_dir(self) -> Path:
        return Path(self.app.general.data_dir)

    @property
    def agents_dir(self) -> Path:
        """As configured; a relative folder missing from the working directory is looked up beside
        the config folder (`/srv/bot/config` -> `/srv/bot/agents`), where the project keeps it."""
        path = Path(self.app.general.agents_dir)
        if path.is_absolute() or path.is_dir():
            return path
        beside = self.config_dir.parent / path
        if beside.is_dir() or path != Path("agents"):
            return beside
        return defaults.AGENTS  # no agents/ folder anywhere: the packaged prompts

    @property
    def defaults_notice(self) -> str:
        """'' or one line saying the packaged config/agents are in use (for `config check` and `run`)."""
        return defaults.notice(self.config_dir, self.agents_dir)

    @property
    def store_url(self) -> str:
        return normalize_store_url(self.app.general.store_url, self.data_dir)

    @cached_property
    def scrubber(self) -> Scrubber:
        """Masks every secret value (tokens, keys, the store's password) in text that leaves the process."""
        urls = (self.app.general.store_url, self.store_url)
        return Scrubber.of([*(s.get_secret_value() for _, s in self.secrets if s), *map(url_password, urls)])

    @property
    def offline(self) -> bool:
        return not self.app.llm.model

    def category(self, category_id: str) -> Category:
        for cat in self.categories:
            if cat.id == category_id:
                return cat
        known = ", ".join(c.id for c in self.categories)
        raise ConfigError(f"unknown category {category_id!r} (known: {known})")

    def effective(self) -> dict[str, Any]:
        """The effective configuration with secrets redacted (for `digestbot config check`)."""
        config = self.app.model_dump(mode="json")
        config["general"]["store_url"] = redact_url(config["general"]["store_url"])
        return {
            "config_dir": str(self.config_dir),
            "store_url": redact_url(self.store_url),
            "offline_mode": self.offline,
            "config": config,
            "categories": [c.id for c in self.categories],
            "secrets": self.secrets.redacted(),
        }


def normalize_store_url(url: str, data_dir: Path) -> str:
    """Empty -> SQLite in the data dir; Heroku's `postgres://` -> SQLAlchemy + psycopg 3."""
    if not url:
        return f"sqlite:///{data_dir / 'digestbot.sqlite'}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact_url(url: str) -> str:
    """Hide a password in a database URL (also in one written without its scheme)."""
    scheme, sep, rest = url.partition("://") if "://" in url else ("", "", url)
    if "@" not in rest:
        return url
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}" if ":" in creds else url


def default_config_dir(environ: Mapping[str, str]) -> Path:
    """DIGESTBOT_CONFIG_DIR, else ./config, else (no config folder here) the packaged defaults."""
    if environ.get("DIGESTBOT_CONFIG_DIR"):
        return Path(environ["DIGESTBOT_CONFIG_DIR"])
    return Path("config") if Path("config").is_dir() else defaults.CONFIG


def utf8_text(path: Path, raw: bytes) -> str:
    """A config or agent file's bytes as text (a leading BOM dropped); `ConfigError` naming the file,
    the line and the byte position when they are not UTF-8 (e.g. a comment saved as Shift-JIS)."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path}: not UTF-8 text: byte {exc.start} (line {line}, column {column}) is "
            f"0x{raw[exc.start]:02x}; save the file as UTF-8 (not Shift-JIS/CP932)"
        ) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(utf8_text(path, path.read_bytes()))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found (set DIGESTBOT_CONFIG_DIR to your config folder)"
        ) from None
    except OSError as exc:  # a folder in its place, no permission
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _set_dotted(data: dict[str, Any], dotted: str, value: str) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for key in parents:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot apply override to {dotted}: {key} is not a table")
        node = child
    node[leaf] = value


def _first_error(path: Path, exc: ValidationError, data: Mapping[str, Any] | None = None) -> ConfigError:
    err = exc.errors()[0]
    loc = ".".join(str(part) for part in err["loc"])
    if data is not None and err["loc"] and err["loc"][0] == "category" and len(err["loc"]) > 1:
        index = err["loc"][1]
        if isinstance(index, int):
            cats = data.get("category", [])
            cat_id = cats[index].get("id", index) if index < len(cats) else index
            loc = ".".join([f"category[{cat_id}]", *(str(p) for p in err["loc"][2:])])
    if not err["loc"]:  # a check of the whole file (e.g. a repeated category id): its message only
        loc = "category" if path.name == "categories.toml" else "(file)"
        message = str(err["msg"]).removeprefix("Value error, ")
    elif err["type"] == "extra_forbidden":
        message = f"unknown key (check spelling; see the shipped config/{path.name} for the known keys)"
    elif err["type"] == "missing":
        message = "required key is missing"
    else:
        message = f"{err['msg']} (got {err.get('input')!r})"
    more = len(exc.errors()) - 1
    suffix = f" [+{more} more problem{'s' if more > 1 else ''}]" if more else ""
    return ConfigError(f"{path}: {loc}: {message}{suffix}")


def load_app_config(path: Path, environ: Mapping[str, str]) -> AppConfig:
    data = _read_toml(path)
    for env_name, dotted in ENV_OVERRIDES.items():
        if environ.get(env_name):
            _set_dotted(data, dotted, environ[env_name])
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        raise _first_error(path, exc) from None


def load_categories(path: Path) -> tuple[Category, ...]:
    data = _read_toml(path)
    try:
        return CategoriesFile.model_validate(data).category
    except ValidationError as exc:
        raise _first_error(path, exc, data) from None


def load_settings(
    config_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    env_file: Path | None = None,
) -> Settings:
    """Load and validate the whole configuration. Raises `ConfigError` with one readable line."""
    env = os.environ if environ is None else environ
    folder = config_dir or default_config_dir(env)
    app = load_app_config(folder / "digestbot.toml", env)
    categories = load_categories(folder / "categories.toml")
    other = app.pipeline.other_category
    if other and other not in {c.id for c in categories}:
        raise ConfigError(
            f"{folder / 'digestbot.toml'}: pipeline.other_category: {other!r} is not a category id in "
            f'{folder / "categories.toml"} (add it, or set other_category = "" to drop unmatched items)'
        )
    values: dict[str, Any] = {k.lower(): v for k, v in env.items() if k.lower() in Secrets.model_fields}
    if env_file is not None:
        values["_env_file"] = env_file
    secrets = Secrets(**values)
    return Settings(config_dir=folder, app=app, categories=categories, secrets=secrets)


__all__ = [
    "DEFAULT_INTERESTS",
    "ENV_OVERRIDES",
    "AppConfig",
    "ArxivConfig",
    "CategoriesFile",
    "Category",
    "ConfigError",
    "CronConfig",
    "FeedbackConfig",
    "GeneralConfig",
    "HttpConfig",
    "JudgeConfig",
    "LLMConfig",
    "PipelineConfig",
    "Positive",
    "PrefilterConfig",
    "PrerankConfig",
    "Price",
    "QiitaConfig",
    "ScheduleConfig",
    "Score",
    "Seconds",
    "Secrets",
    "Settings",
    "SlackConfig",
    "SourcesConfig",
    "TrendsConfig",
    "ZennConfig",
    "default_config_dir",
    "is_loopback_url",
    "load_app_config",
    "load_categories",
    "load_settings",
    "normalize_store_url",
    "redact_url",
    "utf8_text",
]
