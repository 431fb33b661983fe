"""Slack delivery: pure Block Kit rendering, escaping, posting with slack-sdk, and an HTML preview."""

from digestbot.slack.errors import SlackDeliveryError
from digestbot.slack.preview import render_preview
from digestbot.slack.publish import Posted, SlackPublisher
from digestbot.slack.render import SlackMessage, render_digest

__all__ = [
    "Posted",
    "SlackDeliveryError",
    "SlackMessage",
    "SlackPublisher",
    "render_digest",
    "render_preview",
]
