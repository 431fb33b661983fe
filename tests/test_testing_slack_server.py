"""The fake Slack Web API answers like the real one (shapes checked against recorded responses)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import URLError

import pytest
import yaml
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from digestbot.testing.slack_server import SlackServer

FIXTURES = Path(__file__).parent / "fixtures" / "slack"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def client(slack: SlackServer) -> WebClient:
    return WebClient(token=slack.token, base_url=slack.api_url, retry_handlers=[])


def api_error(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as caught:
        call()
    return dict(caught.value.response.data)


def test_post_message_answers_with_the_keys_of_a_real_response(client: WebClient) -> None:
    """ok/channel/ts/message and the message's keys are those of a recorded chat.postMessage answer."""
    real = json.loads((FIXTURES / "chat.postMessage_ok_real-curl-output_rich_text-blocks.json").read_text())
    answer = client.chat_postMessage(channel="#llm-digest", text="hi", blocks=[SECTION]).data
    assert isinstance(answer, dict)
    assert (set(real), set(real["message"])) == (set(answer), set(answer["message"]))
    assert (answer["channel"], isinstance(answer["ts"], str)) == ("C0DIGEST01", True)


def test_missing_token_is_not_authed_with_http_200(slack: SlackServer) -> None:
    """Like the recorded cassette: HTTP 200 and {"ok": false, "error": "not_authed"}."""
    cassette = yaml.safe_load((FIXTURES / "slack-web-api_auth.test_not_authed_http200.vcr.yml").read_text())
    recorded = cassette["http_interactions"][0]["response"]
    request = urllib.request.Request(slack.api_url + "auth.test", data=b"", method="POST")
    with urllib.request.urlopen(request) as response:
        actual = (response.status, json.loads(response.read()))
    assert (recorded["status"]["code"], json.loads(recorded["body"]["string"])) == actual


def test_wrong_token_is_invalid_auth(slack: SlackServer) -> None:
    """A token the workspace does not know is refused."""
    wrong = WebClient(token="xoxb-wrong", base_url=slack.api_url, retry_handlers=[])
    assert api_error(wrong.auth_test) == {"ok": False, "error": "invalid_auth"}


def test_too_many_blocks_is_invalid_blocks_with_slacks_messages_shape(client: WebClient) -> None:
    """51 blocks -> invalid_blocks with response_metadata.messages, the shape of the recorded error."""
    shape = json.loads(
        (FIXTURES / "web-api_error_invalid_arguments_response_metadata_java-slack-sdk-PR302.json").read_text()
    )
    data = api_error(lambda: client.chat_postMessage(channel="#llm-digest", text="t", blocks=[SECTION] * 51))
    assert set(shape) <= set(data)
    assert data["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]


@pytest.mark.parametrize(
    ("blocks", "text", "expected"),
    [
        (
            [{"type": "divider"}, {"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}],
            "t",
            (
                "invalid_blocks",
                "[ERROR] must be less than 3001 characters [json-pointer:/blocks/1/text/text]",
            ),
        ),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "t",
            ("invalid_blocks", "[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]"),
        ),
        (
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
            "t",
            ("invalid_blocks", "[ERROR] no more than 10 items allowed [json-pointer:/blocks/0/elements]"),
        ),
        (
            [{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 2900}}] * 5,
            "t",
            ("msg_blocks_too_long", None),
        ),
        (None, "x" * 40_001, ("msg_too_long", None)),
        (None, "", ("no_text", None)),
    ],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
def test_payloads_over_slacks_limits_are_rejected(
    client: WebClient, blocks: list[dict[str, Any]] | None, text: str, expected: tuple[str, str | None]
) -> None:
    """Each limit gives Slack's error code (and its [ERROR] line for invalid_blocks)."""
    data = api_error(lambda: client.chat_postMessage(channel="#llm-digest", text=text, blocks=blocks))
    first = (data.get("response_metadata") or {}).get("messages", [None])[0]
    assert expected == (data["error"], first)


def test_rate_limit_fault_is_429_with_retry_after_and_an_empty_body(slack: SlackServer) -> None:
    """A scripted 429 carries Retry-After and no body, as Slack's does."""
    slack.fault("rate_limit", method="chat.postMessage", retry_after=7)
    request = urllib.request.Request(
        slack.api_url + "chat.postMessage",
        data=b"channel=C0DIGEST01&text=x",
        headers={"Authorization": f"Bearer {slack.token}"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert (caught.value.code, caught.value.headers["Retry-After"], caught.value.read()) == (429, "7", b"")


def test_json_answers_escape_slashes_like_slack(slack: SlackServer) -> None:
    """The raw body uses `\\/`, which a parser must (and does) accept."""
    body = json.dumps({"channel": "C0DIGEST01", "text": "a/b"}).encode()
    request = urllib.request.Request(
        slack.api_url + "chat.postMessage",
        data=body,
        headers={"Authorization": f"Bearer {slack.token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        raw = response.read().decode()
    assert ('"text": "a\\/b"' in raw, json.loads(raw)["message"]["text"]) == (True, "a/b")


def test_history_and_replies_show_metadata_only_when_asked(client: WebClient) -> None:
    """include_all_metadata exposes the marker; replies are found through conversations.replies."""
    meta = {"event_type": "digestbot_digest", "event_payload": {"period": "p", "part": 1, "parts": 2}}
    parent = client.chat_postMessage(channel="#llm-digest", text="1", metadata=meta)["ts"]
    client.chat_postMessage(channel="C0DIGEST01", text="2", thread_ts=parent)
    plain = client.conversations_history(channel="C0DIGEST01")["messages"]
    rich = client.conversations_history(channel="C0DIGEST01", include_all_metadata=True)["messages"]
    thread = client.conversations_replies(channel="C0DIGEST01", ts=parent)["messages"]
    assert ([m.get("metadata") for m in plain], [m["metadata"] for m in rich]) == ([None], [meta])
    assert ([m["text"] for m in thread], rich[0]["reply_count"]) == (["1", "2"], 1)


def test_history_pages_newest_first_with_a_cursor_and_a_date_header(client: WebClient) -> None:
    """limit-sized pages, newest first, `has_more` + `response_metadata.next_cursor` until the last;
    `oldest`/`latest` are exclusive; a cursor we did not hand out is `invalid_cursor`; Date is sent."""
    posted = [client.chat_postMessage(channel="C0DIGEST01", text=str(n))["ts"] for n in range(5)]
    pages, cursor = [], None
    for _ in range(5):
        page = client.conversations_history(channel="C0DIGEST01", limit=2, cursor=cursor)
        pages.append(([m["text"] for m in page["messages"]], page["has_more"]))
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    between = client.conversations_history(channel="C0DIGEST01", oldest=posted[0], latest=posted[4])
    with pytest.raises(SlackApiError) as bad:
        client.conversations_history(channel="C0DIGEST01", cursor="bm90LWEtY3Vyc29y")
    assert (
        [(["4", "3"], True), (["2", "1"], True), (["0"], False)],
        ["3", "2", "1"],
        "invalid_cursor",
        True,
    ) == (
        pages,
        [m["text"] for m in between["messages"]],
        bad.value.response["error"],
        "date" in {k.lower() for k in page.headers},
    )


def test_history_needs_a_channel_id(client: WebClient) -> None:
    """Like Slack, conversations.history does not accept a channel name."""
    assert (
        api_error(lambda: client.conversations_history(channel="#llm-digest"))["error"] == "channel_not_found"
    )


def test_update_edits_in_place_and_permalink_points_at_the_message(
    client: WebClient, slack: SlackServer
) -> None:
    """chat.update changes the stored message; the permalink names channel and ts."""
    ts = client.chat_postMessage(channel="#llm-digest", text="old")["ts"]
    client.chat_update(channel="C0DIGEST01", ts=ts, text="new")
    link = client.chat_getPermalink(channel="C0DIGEST01", message_ts=ts)["permalink"]
    assert (
        [m["text"] for m in slack.messages("C0DIGEST01")],
        link.endswith(f"/archives/C0DIGEST01/p{ts.replace('.', '')}"),
    ) == (["new"], True)


def test_bot_outside_the_channel_gets_not_in_channel() -> None:
    """A channel the bot was not invited to refuses posts."""
    with SlackServer(member_of=["random"]) as slack:
        client = WebClient(token=slack.token, base_url=slack.api_url, retry_handlers=[])
        assert (
            api_error(lambda: client.chat_postMessage(channel="#llm-digest", text="x"))["error"]
            == "not_in_channel"
        )


def test_stop_refuses_connections_and_restart_keeps_the_messages(
    slack: SlackServer, client: WebClient
) -> None:
    """An outage mid-test: connections fail while stopped; after restart the workspace is intact."""
    client.chat_postMessage(channel="#llm-digest", text="before")
    slack.stop()
    with pytest.raises(URLError):
        client.auth_test()
    slack.restart()
    client.chat_postMessage(channel="#llm-digest", text="after")
    assert [m["text"] for m in slack.messages("C0DIGEST01")] == ["before", "after"]


def test_requests_are_recorded_with_method_headers_and_body(client: WebClient, slack: SlackServer) -> None:
    """Tests can assert on what crossed the wire."""
    client.chat_postMessage(channel="#llm-digest", text="x", unfurl_links=False)
    recorded = slack.calls("chat.postMessage")[0]
    assert (recorded.body["unfurl_links"], recorded.headers["authorization"], recorded.status) == (
        False,
        f"Bearer {slack.token}",
        200,
    )


def test_connections_open_hands_out_the_socket_mode_url_for_the_app_token(slack: SlackServer) -> None:
    """apps.connections.open answers the app-level token; the bot token gets not_allowed_token_type."""
    slack.socket_mode_url = "ws://127.0.0.1:9/link/?ticket=x"
    app_client = WebClient(base_url=slack.api_url, retry_handlers=[])
    opened = app_client.apps_connections_open(app_token=slack.app_token).data
    with_bot = api_error(
        lambda: WebClient(token=slack.token, base_url=slack.api_url).apps_connections_open(
            app_token=slack.token
        )
    )
    assert ({"ok": True, "url": "ws://127.0.0.1:9/link/?ticket=x"}, "not_allowed_token_type") == (
        opened,
        with_bot["error"],
    )


def test_app_token_cannot_post_messages(slack: SlackServer) -> None:
    """The xapp- token is for Socket Mode only, like Slack's."""
    client = WebClient(token=slack.app_token, base_url=slack.api_url, retry_handlers=[])
    assert (
        "not_allowed_token_type"
        == api_error(lambda: client.chat_postMessage(channel="#llm-digest", text="x"))["error"]
    )


def test_post_ephemeral_is_kept_apart_from_channel_messages(client: WebClient, slack: SlackServer) -> None:
    """chat.postEphemeral is recorded for the user and never appears in the channel's history."""
    answer = client.chat_postEphemeral(
        channel="C0DIGEST01", user="U0ASKER01", text="only you", blocks=[SECTION]
    ).data
    assert isinstance(answer, dict)
    expected = [{"channel": "C0DIGEST01", "user": "U0ASKER01", "text": "only you", "blocks": [SECTION]}]
    assert (True, expected, []) == (
        "message_ts" in answer,
        slack.ephemeral("C0DIGEST01"),
        slack.messages("C0DIGEST01"),
    )


def test_post_ephemeral_needs_the_bot_in_the_channel() -> None:
    """Like chat.postMessage: not_in_channel when the bot is not a member."""
    with SlackServer(member_of=["llm-digest"]) as server:
        client = WebClient(token=server.token, base_url=server.api_url, retry_handlers=[])
        error = api_error(lambda: client.chat_postEphemeral(channel="C0RANDOM02", user="U1", text="x"))
    assert "not_in_channel" == error["error"]


def test_response_url_records_what_is_posted(slack: SlackServer) -> None:
    """A slash command's response_url takes a JSON message and answers 200 `ok`, like Slack's."""
    body = json.dumps({"text": "生成中…", "response_type": "ephemeral"}).encode()
    request = urllib.request.Request(
        slack.response_url("a"), data=body, headers={"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        answer = (response.status, response.read())
    assert ((200, b"ok"), ["生成中…"], []) == (
        answer,
        [r["text"] for r in slack.responses("a")],
        slack.responses("b"),
    )


def test_files_upload_v2_stores_the_bytes_and_shares_them_in_the_thread() -> None:
    """The three steps of files_upload_v2 land: the file's bytes are kept and a reply carries the file."""
    with SlackServer() as slack:
        client = WebClient(token=slack.token, base_url=slack.api_url)
        parent = client.chat_postMessage(channel="#llm-digest", text="digest")
        response = client.files_upload_v2(
            channel="C0DIGEST01",
            content=b"\x89PNG...",
            filename="trends.png",
            title="傾向",
            thread_ts=parent["ts"],
        )
        uploaded = slack.files()
        reply = slack.messages("C0DIGEST01")[-1]
    assert (True, b"\x89PNG...", "傾向") == (response["ok"], uploaded[0]["data"], uploaded[0]["title"])
    assert (parent["ts"], "trends.png") == (reply["thread_ts"], reply["files"][0]["name"])
    assert ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"] == [
        r.method for r in slack.requests[1:]
    ]


def test_completing_an_unknown_upload_is_file_not_found() -> None:
    """files.completeUploadExternal for an id never issued answers Slack's error."""
    with SlackServer() as slack:
        client = WebClient(token=slack.token, base_url=slack.api_url)
        with pytest.raises(SlackApiError) as info:
            client.files_completeUploadExternal(files=[{"id": "F999"}], channel_id="C0DIGEST01")
    assert "file_not_found" == info.value.response["error"]


def test_an_actions_block_with_an_over_long_button_value_is_rejected() -> None:
    """Buttons are checked like Slack does: value <= 2000 characters."""
    with SlackServer() as slack:
        client = WebClient(token=slack.token, base_url=slack.api_url)
        button = {
            "type": "button",
            "action_id": "a",
            "text": {"type": "plain_text", "text": "👍"},
            "value": "x" * 2001,
        }
        with pytest.raises(SlackApiError) as info:
            client.chat_postMessage(
                channel="#llm-digest", text="t", blocks=[{"type": "actions", "elements": [button]}]
            )
    expected = ["[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]"]
    assert ("invalid_blocks", expected) == (info.value.response["error"], info.value.response["errors"])


def test_stall_after_applies_the_call_and_holds_the_answer(slack: SlackServer) -> None:
    """The message is in the channel while its answer waits; release() lets the answer out."""
    slack.fault("stall_after", method="chat.postMessage")
    client = WebClient(token=slack.token, base_url=slack.api_url, retry_handlers=[])
    answers: list[Any] = []
    sender = threading.Thread(
        target=lambda: answers.append(client.chat_postMessage(channel="#llm-digest", text="x"))
    )
    sender.start()
    deadline = time.monotonic() + 10
    while not slack.messages("C0DIGEST01") and time.monotonic() < deadline:
        time.sleep(0.01)
    landed_before_answer = (len(slack.messages("C0DIGEST01")), len(answers))
    slack.release()
    sender.join(timeout=10)
    assert ((1, 0), True) == (landed_before_answer, answers[0]["ok"])
