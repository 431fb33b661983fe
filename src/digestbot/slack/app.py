"""The Bolt `AsyncApp`: built from settings; every Slack feature is a module with `register(app)`.

Add a feature by listing its module in `FEATURES`. Listeners find the worker's shared services
(config holder, executor for blocking work, background tasks) with `services_of(context)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from digestbot.settings import Settings
from digestbot.slack import commands, feedback, fixit
from digestbot.slack.services import SERVICES_KEY, BotServices


class Feature(Protocol):
    """A Slack feature module: adds its listeners to the app."""

    def register(self, app: AsyncApp) -> None: ...


FEATURES: tuple[Feature, ...] = (commands, feedback, fixit)


def build_app(
    services: BotServices,
    client: AsyncWebClient,
    *,
    signing_secret: str = "",
    process_before_response: bool = False,
) -> AsyncApp:
    """The app with every feature registered. Socket Mode needs no signing secret; HTTP does."""
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        process_before_response=process_before_response,
    )

    async def inject_services(context: Any, next: Callable[[], Awaitable[None]]) -> None:
        context[SERVICES_KEY] = services
        await next()

    app.use(inject_services)
    for feature in FEATURES:
        feature.register(app)
    return app


def app_from_settings(
    settings: Settings, services: BotServices, *, process_before_response: bool = False
) -> AsyncApp:
    """The worker's app: the bot token against `[slack] api_url`."""
    token = settings.secrets.slack_bot_token
    secret = settings.secrets.slack_signing_secret
    client = AsyncWebClient(
        token=token.get_secret_value() if token else None, base_url=settings.app.slack.api_url
    )
    return build_app(
        services,
        client,
        signing_secret=secret.get_secret_value() if secret else "",
        process_before_response=process_before_response,
    )
