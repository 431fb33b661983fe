"""The trends chart in a digest's thread: uploaded once per (channel, period), owed until it is.

`deliver` records the chart as owed (`digest_files` row with no file id) before it posts, so a run
that dies between the post and the upload leaves a debt that the next `digestbot run`, `post
--last` or worker start-up (`reconcile_pending`) pays, under the period's posting lease. A chart
that cannot be drawn or uploaded is reported, never fails the delivery of the digest itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from digestbot.digest_json import digest_from_dict
from digestbot.domain import Digest
from digestbot.settings import Settings
from digestbot.slack.errors import SlackDeliveryError
from digestbot.slack.publish import SlackPublisher
from digestbot.store import digests as posts
from digestbot.store import uploads

CHART = "trends_chart"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def wants_chart(digest: Digest, settings: Settings) -> bool:
    return digest.trends is not None and settings.app.trends.chart_in_thread


def upload_chart(
    digest: Digest,
    settings: Settings,
    engine: Engine,
    publisher: SlackPublisher,
    *,
    channel: str,
    period: str,
    thread: tuple[str, str],
    now: Callable[[], datetime] = _utc_now,
) -> tuple[str | None, str]:
    """Draw and upload the trends chart into the thread once; (file id, error) never raises for it."""
    from digestbot.chart import ChartError, digest_chart

    config = settings.app.trends
    if not wants_chart(digest, settings):
        return None, ""
    channel_id, thread_ts = thread
    if done := uploads.uploaded_file(engine, channel, period, CHART):
        return done, ""
    tz = settings.app.general.timezone
    try:
        png = digest_chart(digest, engine, settings.categories, weeks=config.chart_weeks, tz=tz)
        file_id = publisher.upload(
            channel_id,
            png,
            filename=f"trends-{period}.png",
            title=f"カテゴリ別の採用件数（直近{config.chart_weeks}週）",
            alt_text="カテゴリごとの週別採用件数の棒グラフ",
            thread_ts=thread_ts,
        )
    except (ChartError, SlackDeliveryError) as exc:
        return None, f"the trends chart was not uploaded: {exc}"
    uploads.record_upload(engine, channel=channel, period=period, kind=CHART, file_id=file_id, now=now())
    return file_id, ""


def retry_pending_chart(
    settings: Settings,
    engine: Engine,
    publisher: SlackPublisher,
    *,
    channel: str,
    period: str,
    now: Callable[[], datetime] = _utc_now,
) -> tuple[str | None, str]:
    """Upload the chart a posted digest still owes (a run died after the post); else do nothing."""
    if not uploads.is_pending(engine, channel, period, CHART):
        return None, ""
    post = posts.find_post(engine, channel, period)
    if post is None or post.status != "posted" or not post.ts or not post.channel_id or not post.digest:
        return None, ""
    digest = digest_from_dict(post.digest)
    thread = (post.channel_id, post.ts[0])
    return upload_chart(
        digest, settings, engine, publisher, channel=channel, period=period, thread=thread, now=now
    )
