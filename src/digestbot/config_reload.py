"""Tuning without restarts: every run loads `config/` and `agents/` fresh through a `ConfigHolder`.

An invalid edit is logged and reported (once per distinct problem) to the admin channel, and the
last valid configuration keeps running. The agent files of the last valid load are kept in a
snapshot folder that the returned settings point to, so a run never reads a half-edited prompt.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from digestbot.agents.base import AGENT_NAMES
from digestbot.agents.spec import load_agents
from digestbot.scheduler import check_schedule
from digestbot.settings import ConfigError, Settings, load_settings
from digestbot.slack.escape import clean

log = logging.getLogger(__name__)

Notify = Callable[[Settings, str], object]  # (the settings that name the admin channel, message)

INVALID_EDIT = "⚠️ 設定の変更を読み込めませんでした。前回の有効な設定のまま動いています。\n`{error}`"


class ConfigHolder:
    """`current()` loads and validates the configuration; an invalid one falls back to the last valid."""

    def __init__(
        self,
        load: Callable[[], Settings] = load_settings,
        *,
        notify: Notify | None = None,
        snapshot_dir: Path | None = None,
    ) -> None:
        self._load = load
        self._notify = notify
        self._snapshot_root = snapshot_dir
        self._lock = threading.Lock()
        self._last: Settings | None = None
        self._error: str | None = None

    @property
    def last_valid(self) -> Settings | None:
        return self._last

    @property
    def error(self) -> str | None:
        """The problem with the files on disk right now (None when they are valid)."""
        return self._error

    def current(self) -> Settings:
        """Fresh settings, or the last valid ones after an invalid edit. Raises when none was ever valid."""
        with self._lock:
            try:
                settings = self._load()
                check_schedule(settings.app.schedule)
                settings = self._pin_agents(settings)
            except ConfigError as exc:
                return self._fall_back(str(exc))
            except (OSError, UnicodeError) as exc:  # a file the loaders could not phrase: still an edit
                return self._fall_back(f"{type(exc).__name__}: {exc}")
            if self._error is not None:
                log.info("configuration is valid again; using it")
            self._last, self._error = settings, None
            return settings

    def _fall_back(self, error: str) -> Settings:
        if self._last is None:
            raise ConfigError(error)
        if error != self._error:
            log.error("invalid configuration edit, still running the last valid one: %s", error)
            if self._notify is not None:
                self._notify(self._last, INVALID_EDIT.format(error=error))
        self._error = error
        return self._last

    def _pin_agents(self, settings: Settings) -> Settings:
        """Copy the validated agent files to a snapshot folder and point the settings at it."""
        if settings.offline:
            return settings  # the offline agents read no prompt files
        specs = load_agents(settings.agents_dir)
        files = {name: (settings.agents_dir / f"{name}.md").read_bytes() for name in AGENT_NAMES}
        if any(hashlib.sha256(files[name]).hexdigest() != specs[name].prompt_hash for name in AGENT_NAMES):
            raise ConfigError(f"{settings.agents_dir}: an agent file changed while it was being read")
        digest = hashlib.sha256(b"".join(files[name] for name in AGENT_NAMES)).hexdigest()[:16]
        if self._snapshot_root is None:
            self._snapshot_root = Path(tempfile.mkdtemp(prefix="digestbot-agents-"))
        folder = self._snapshot_root / digest
        if not folder.is_dir():
            self._snapshot_root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=self._snapshot_root))
            for name, data in files.items():
                (staging / f"{name}.md").write_bytes(data)
            staging.rename(folder)
        general = settings.app.general.model_copy(update={"agents_dir": str(folder)})
        app = settings.app.model_copy(update={"general": general})
        return settings.model_copy(update={"app": app})

    def close(self) -> None:
        """Remove the snapshot folder (when this holder created it)."""
        if self._snapshot_root is not None and self._snapshot_root.name.startswith("digestbot-agents-"):
            shutil.rmtree(self._snapshot_root, ignore_errors=True)


def post_admin_message(settings: Settings, message: str, *, client: WebClient | None = None) -> bool:
    """Post `message` to `[slack] admin_channel` if one is configured. Never raises; False if not sent."""
    channel = settings.app.slack.admin_channel
    secret = settings.secrets.slack_bot_token
    if not channel or (client is None and secret is None):
        return False
    web = client or WebClient(
        token=secret.get_secret_value() if secret else None, base_url=settings.app.slack.api_url, timeout=10
    )
    try:
        # alerts quote error text from outside (a model's refusal, a server's message): never markup
        text = clean(settings.scrubber(message))  # and never a secret a provider's message quoted
        web.chat_postMessage(channel=channel, text=text, unfurl_links=False, unfurl_media=False)
    except (SlackClientError, OSError) as exc:
        log.warning("could not post to the admin channel %s: %s", channel, type(exc).__name__)
        return False
    return True
