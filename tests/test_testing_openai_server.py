"""The fake OpenAI-compatible server: response shape, schema routing, scripted faults, rate limit."""

from __future__ import annotations

import json
from typing import Any

import httpx

from digestbot.testing.openai_server import (
    MALFORMED,
    OpenAIServer,
    Refusal,
    by_schema,
    lognormal_latency,
    schema_name,
)

JSON_SCHEMA_REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "要約して"}],
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "Blurb", "schema": {}, "strict": True},
    },
}
TOOL_REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "採点して"}],
    "tools": [{"type": "function", "function": {"name": "Verdict", "parameters": {}}}],
    "tool_choice": {"type": "function", "function": {"name": "Verdict"}},
}


def post(server: OpenAIServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=5)


def test_schema_name_reads_json_schema_and_forced_tool() -> None:
    """The schema is taken from response_format or from the forced tool, else None."""
    expected = ["Blurb", "Verdict", None]
    assert expected == [
        schema_name(JSON_SCHEMA_REQUEST),
        schema_name(TOOL_REQUEST),
        schema_name({"messages": []}),
    ]


def test_json_schema_request_gets_json_content_in_openai_shape() -> None:
    """A dict answer goes out as JSON content, with id, finish_reason and token usage."""
    with OpenAIServer(by_schema({"Blurb": [{"blurb": "手法を提案。"}]})) as server:
        body = post(server, JSON_SCHEMA_REQUEST).json()
    choice = body["choices"][0]
    expected = {"blurb": "手法を提案。"}
    assert expected == json.loads(choice["message"]["content"])
    expected = ("stop", "chat.completion")
    assert expected == (choice["finish_reason"], body["object"])
    usage = body["usage"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] == usage["total_tokens"] > 0


def test_tool_request_gets_a_tool_call() -> None:
    """With a forced tool the answer is that tool's call, arguments as a JSON string."""
    verdict = {"relevance": 5, "significance": 4, "faithfulness": 5, "japanese": 4}
    with OpenAIServer(by_schema({"Verdict": [verdict]})) as server:
        message = post(server, TOOL_REQUEST).json()["choices"][0]["message"]
    call = message["tool_calls"][0]["function"]
    assert ("Verdict", verdict, None) == (call["name"], json.loads(call["arguments"]), message["content"])


def test_requests_are_recorded() -> None:
    """What crossed the wire is kept: path, body and the status answered."""
    with OpenAIServer(lambda request: "plain text") as server:
        post(server, JSON_SCHEMA_REQUEST)
        recorded = server.requests
    expected = [("/v1/chat/completions", "Blurb", 200)]
    assert expected == [(r.path, schema_name(r.body), r.status) for r in recorded]


def test_scripted_faults_are_served_in_order_before_normal_answers() -> None:
    """429 with Retry-After, 500, malformed, schema-violating and empty answers, then the responder."""
    with OpenAIServer(by_schema({"Blurb": [{"blurb": "ok"}]})) as server:
        server.fault("rate_limit", retry_after=1)
        server.fault("server_error")
        server.fault("malformed")
        server.fault("violation")
        server.fault("empty")
        responses = [post(server, JSON_SCHEMA_REQUEST) for _ in range(6)]
    expected = [429, 500, 200, 200, 200, 200]
    assert expected == [r.status_code for r in responses]
    expected = "1"
    assert expected == responses[0].headers["retry-after"]
    contents = [r.json()["choices"][0]["message"]["content"] for r in responses[2:]]
    expected = [MALFORMED, '{"unexpected": "field", "score": "high"}', "", '{"blurb": "ok"}']
    assert expected == contents


def test_malformed_fault_on_a_tool_request_breaks_the_arguments() -> None:
    """For tool requests the malformed JSON is in the tool call's arguments."""
    with OpenAIServer(by_schema({})) as server:
        server.fault("malformed")
        message = post(server, TOOL_REQUEST).json()["choices"][0]["message"]
    expected = MALFORMED
    assert expected == message["tool_calls"][0]["function"]["arguments"]


def test_requests_per_minute_limit_answers_429_until_the_window_moves() -> None:
    """Over the per-minute budget the server answers 429 with the seconds until a slot frees up."""
    now = [1000.0]
    replies = by_schema({"Blurb": lambda request: {"blurb": "ok"}})
    with OpenAIServer(replies, requests_per_minute=2, clock=lambda: now[0]) as server:
        first = [post(server, JSON_SCHEMA_REQUEST).status_code for _ in range(3)]
        limited = post(server, JSON_SCHEMA_REQUEST)
        now[0] += 60
        after = post(server, JSON_SCHEMA_REQUEST).status_code
    expected = ([200, 200, 429], "60", 200)
    assert expected == (first, limited.headers["retry-after"], after)


def test_latency_hook_is_called_per_request() -> None:
    """The latency function is sampled once per answered request."""
    samples: list[float] = []

    def latency() -> float:
        samples.append(0.0)
        return 0.0

    with OpenAIServer(lambda request: "x", latency=latency) as server:
        post(server, JSON_SCHEMA_REQUEST)
        post(server, JSON_SCHEMA_REQUEST)
    expected = 2
    assert expected == len(samples)


def test_lognormal_latency_has_the_requested_median() -> None:
    """The benchmark profile (median 0.8 s, p95 3 s) is reproduced by the sampler."""
    sample = lognormal_latency(0.8, 3.0)
    values = sorted(sample() for _ in range(4001))
    assert 0.7 < values[2000] < 0.9
    assert 2.5 < values[3800] < 3.6


def test_responder_errors_become_500_with_the_reason() -> None:
    """An exhausted scripted queue answers 500 naming the schema instead of hanging."""
    with OpenAIServer(by_schema({})) as server:
        response = post(server, JSON_SCHEMA_REQUEST)
    expected = 500
    assert expected == response.status_code
    assert "no scripted reply left for schema 'Blurb'" in response.json()["error"]["message"]


def test_refusal_is_sent_as_the_refusal_field_without_content() -> None:
    """A `Refusal` answer comes back as OpenAI's `message.refusal`, with no content."""
    with OpenAIServer(by_schema({"Blurb": [Refusal("お手伝いできません")]})) as server:
        message = post(server, JSON_SCHEMA_REQUEST).json()["choices"][0]["message"]
    expected = (None, "お手伝いできません")
    assert expected == (message["content"], message["refusal"])


def test_echo_key_fault_quotes_the_authorization_key_with_the_status_asked() -> None:
    """A provider error (400/403/500) whose message quotes the key the client sent."""
    with OpenAIServer(by_schema({"Blurb": [{"blurb": "ok"}]})) as server:
        for status in (400, 403, 500):
            server.fault("echo_key", status=status)
        headers = {"authorization": "Bearer sk-echoed-1234"}
        url = f"{server.base_url}/chat/completions"
        responses = [httpx.post(url, json=JSON_SCHEMA_REQUEST, headers=headers, timeout=5) for _ in range(3)]
    expected = ([400, 403, 500], [True, True, True])
    assert expected == (
        [r.status_code for r in responses],
        ["sk-echoed-1234" in r.json()["error"]["message"] for r in responses],
    )


def test_a_matched_fault_waits_for_the_request_that_contains_its_text() -> None:
    """`match` serves the fault only to a request whose messages contain the text."""
    other = JSON_SCHEMA_REQUEST | {"messages": [{"role": "user", "content": "<title>victim</title>"}]}
    with OpenAIServer(lambda request: {"blurb": "ok"}) as server:
        server.fault("server_error", match="victim")
        statuses = [post(server, JSON_SCHEMA_REQUEST).status_code, post(server, other).status_code]
        statuses.append(post(server, other).status_code)
    assert [200, 500, 200] == statuses


def test_a_request_over_the_context_window_gets_openais_context_length_error() -> None:
    """`max_request_chars`: longer messages get 400 `context_length_exceeded`; shorter ones an answer."""
    long = JSON_SCHEMA_REQUEST | {"messages": [{"role": "user", "content": "x" * 500}]}
    with OpenAIServer(lambda request: {"blurb": "ok"}, max_request_chars=200) as server:
        short_status, refused = post(server, JSON_SCHEMA_REQUEST).status_code, post(server, long)
    expected = (200, 400, "context_length_exceeded", "invalid_request_error")
    assert expected == (
        short_status,
        refused.status_code,
        refused.json()["error"]["code"],
        refused.json()["error"]["type"],
    )
