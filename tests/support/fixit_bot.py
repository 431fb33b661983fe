"""A digest delivered to the local Slack server and the Bolt app answering its fix menu (signed requests).

`fix_bot(tmp_path)` posts the representative digest with `deliver` (archived in the store, like a
weekly post), builds the worker's app with a `ScriptedChat` behind the agents, and makes U1..U5
the channel's members (conversations.members pages of 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from digestbot.agents.factory import build_agents
from digestbot.config_reload import ConfigHolder
from digestbot.delivery import deliver
from digestbot.domain import Digest
from digestbot.graph.state import Verdict
from digestbot.settings import Settings, load_settings
from digestbot.slack.app import build_app
from digestbot.slack.fixit_access import FixState
from digestbot.slack.services import BotServices
from digestbot.testing.scripted_chat import ScriptedChat
from digestbot.testing.slack_interactive import menu_choice, signed, submission
from digestbot.testing.slack_server import SlackServer
from support.agents import per_item_agents
from support.sample_digest import representative_digest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-signing-secret"
CHANNEL = "C0DIGEST01"
ITEM = "arxiv:2611.01234"
OTHER = "arxiv:2611.04321"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
GOOD = "百万トークン級の文書で検索と推論を交互に行うRAG手法を提案する。"
GOOD_OTHER = "KVキャッシュを低ビットに量子化してメモリを節約する手法。"
PASS = Verdict(relevance=5, significance=4, faithfulness=5, japanese=5, rationale="正確。")


def blurb_by_item(messages: list[BaseMessage]) -> dict[str, str]:
    """The summarizer's reply, chosen by which item it was asked about."""
    return {"blurb": GOOD if "LongRAG" in str(messages[-1].content) else GOOD_OTHER}


def scripted(blurb: Any = blurb_by_item, times: int = 6) -> ScriptedChat:
    return ScriptedChat(replies={"Blurb": [blurb] * times, "Verdict": [PASS] * times})


@dataclass
class FixBot:
    slack: SlackServer
    settings: Settings
    services: BotServices
    app: AsyncApp
    chat: ScriptedChat
    posted: dict[str, Any]  # the digest's first message as Slack has it after delivery

    def use(self, chat: ScriptedChat) -> None:
        self.chat = chat
        self.services.fixit.make_agents = lambda s: build_agents(s, chat_model=chat)

    def message(self) -> dict[str, Any]:
        return self.slack.messages(CHANNEL)[0]

    async def open_modal(self, value: str, *, item: str = ITEM, user: str = "U1") -> dict[str, Any] | None:
        """Choose a menu option; the modal views.open opened (None when none was)."""
        before = len(self.slack.views())
        payload = menu_choice(self.slack, self.posted, CHANNEL, f"vote:{item}", value, user=user)
        response = await self.app.async_dispatch(signed(payload, SECRET))
        assert response.status == 200
        views = self.slack.views()
        return views[-1] if len(views) > before else None

    async def submit(self, view: dict[str, Any], values: dict[str, str], user: str = "U1") -> int:
        response = await self.app.async_dispatch(signed(submission(view, values, user=user), SECRET))
        return response.status

    async def join(self) -> None:
        assert await self.services.tasks.join(within=10)


def item_section(message: dict[str, Any], item: str) -> str:
    blocks = message["blocks"]
    index = next(i for i, b in enumerate(blocks) if b.get("block_id") == f"vote:{item}")
    return str(blocks[index - 1]["text"]["text"])


@contextmanager
def fix_bot(
    tmp_path: Path, *, digest: Digest | None = None, corrections: dict[str, Any] | None = None
) -> Iterator[FixBot]:
    """`digest` (default: the representative one) delivered; `corrections` overrides `[corrections]`."""
    with SlackServer() as slack:
        slack.set_members(CHANNEL, [f"U{n}" for n in range(1, 6)])
        env = {
            "DIGESTBOT_DATA_DIR": str(tmp_path),
            "DIGESTBOT_SLACK_API_URL": slack.api_url,
            "DIGESTBOT_AGENTS_DIR": str(per_item_agents()),
            "SLACK_BOT_TOKEN": slack.token,
        }
        settings = load_settings(ROOT / "config", env, env_file=tmp_path / "no.env")
        if corrections:
            app_config = settings.app.model_copy(
                update={"corrections": settings.app.corrections.model_copy(update=corrections)}
            )
            settings = settings.model_copy(update={"app": app_config})
        chat = scripted()
        fixit = FixState(make_agents=lambda s: build_agents(s, chat_model=chat), page_size=2)
        services = BotServices(config=ConfigHolder(lambda: settings), now=lambda: NOW, fixit=fixit)
        client = AsyncWebClient(token=slack.token, base_url=slack.api_url)
        app = build_app(services, client, signing_secret=SECRET, process_before_response=True)
        deliver(digest or representative_digest(), settings, settings.store_url, now=lambda: NOW)
        try:
            yield FixBot(slack, settings, services, app, chat, slack.messages(CHANNEL)[0])
        finally:
            services.close()
