"""A local OpenAI-compatible `/v1/chat/completions` server for tests and benchmarks.

Answers come from a pluggable `responder(request_json) -> dict | str | Refusal`: a dict is the
structured answer (sent as JSON content for `response_format` requests, or as the arguments of the
forced tool call for tool requests), a str is sent verbatim as the message content, a `Refusal` is
sent as OpenAI's `message.refusal` with no content. Scripted faults (429, 500,
malformed or schema-violating JSON, empty content, a delay longer than the client's timeout, an error
quoting the Authorization key) are served first, in order; `max_request_chars` is a context window.
A latency hook and a requests-per-minute limit simulate a real provider.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self

Responder = Callable[[dict[str, Any]], "dict[str, Any] | str | Refusal"]
MALFORMED = '{"oops": "truncated'
FaultKind = Literal["rate_limit", "server_error", "malformed", "violation", "empty", "delay", "echo_key"]


@dataclass(frozen=True)
class Refusal:
    """A responder's answer: the model declines (OpenAI's `message.refusal`, no content)."""

    text: str = "I'm sorry, but I can't help with that request."


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, served instead of (or, for `delay`, before) a normal answer."""

    kind: FaultKind
    retry_after: float = 0  # rate_limit: the Retry-After header, in seconds
    seconds: float = 0  # delay: how long to wait before answering
    status: int = 400  # echo_key: the HTTP status of the error whose message quotes the Authorization key
    match: tuple[str, ...] = ()  # served only to a request whose JSON holds all these texts (() = the next)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 200  # what the server answered


@dataclass
class _State:
    responder: Responder
    latency: Callable[[], float]
    requests_per_minute: int | None
    clock: Callable[[], float]
    max_request_chars: int | None = None
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    recent: deque[float] = field(default_factory=deque)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count[int] = field(default_factory=itertools.count)


def schema_name(request: Mapping[str, Any]) -> str | None:
    """The structured-output schema a request asks for: the json_schema name or the forced tool's name."""
    response_format = request.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return str(response_format.get("json_schema", {}).get("name"))
    choice = request.get("tool_choice")
    if isinstance(choice, dict) and "function" in choice:
        return str(choice["function"]["name"])
    tools = request.get("tools") or []
    return str(tools[0]["function"]["name"]) if tools else None


def by_schema(replies: Mapping[str, Sequence[dict[str, Any] | str | Refusal] | Responder]) -> Responder:
    """A responder answering from per-schema queues (consumed in order) or per-schema functions."""
    queues = {name: list(value) for name, value in replies.items() if not callable(value)}

    def respond(request: dict[str, Any]) -> dict[str, Any] | str | Refusal:
        name = schema_name(request) or "text"
        handler = replies.get(name)
        if callable(handler):
            return handler(request)
        queue = queues.get(name)
        if not queue:
            raise LookupError(f"no scripted reply left for schema {name!r}")
        return queue.pop(0)

    return respond


def lognormal_latency(median: float, p95: float, rng: random.Random | None = None) -> Callable[[], float]:
    """Latency samples with the given median and 95th percentile (e.g. 0.8 s / 3 s)."""
    sigma = math.log(p95 / median) / 1.6449
    source = rng or random.Random(0)
    return lambda: source.lognormvariate(math.log(median), sigma)


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def completion(
    request: Mapping[str, Any], answer: dict[str, Any] | str | Refusal, number: int
) -> dict[str, Any]:
    """The OpenAI chat-completion response for `answer`, shaped as a tool call when one is forced."""
    if isinstance(answer, Refusal):
        response = completion(request, "", number)
        response["choices"][0]["message"].update(content=None, refusal=answer.text)
        return response
    name = schema_name(request)
    tool_request = bool(request.get("tools")) and name is not None
    text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    finish = "stop"
    if tool_request and not isinstance(answer, str):
        call = {"id": f"call_{number}", "type": "function", "function": {"name": name, "arguments": text}}
        message.update(content=None, tool_calls=[call])
        finish = "tool_calls"
    prompt = _tokens(json.dumps(request.get("messages", []), ensure_ascii=False))
    output = _tokens(text)
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output},
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_POST(self) -> None:
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        status, headers, payload = self._answer(state, body)
        with state.lock:
            state.requests.append(RecordedRequest(self.path, dict(self.headers.items()), body, status))
        data = json.dumps(payload, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            for key, value in {"content-type": "application/json", **headers}.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout); nothing to answer

    def _answer(self, state: _State, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        if self.path.rstrip("/") != "/v1/chat/completions":
            return 404, {}, {"error": {"message": f"unknown path {self.path}", "type": "not_found"}}
        with state.lock:
            number = next(state.ids)
            limited = self._over_limit(state)
            fault = _next_fault(state.faults, body) if limited is None else None
        if limited is not None:
            return _rate_limited(math.ceil(limited))
        delay = state.latency() + (fault.seconds if fault and fault.kind == "delay" else 0)
        stopping = delay > 0 and state.stopping.wait(delay)
        refused = self._refused(state, fault, body, stopping=stopping)
        if refused is not None:
            return refused
        if fault is None or fault.kind == "delay":
            try:
                answer = state.responder(body)
            except Exception as exc:  # a test's responder bug: answer 500 with the reason, keep serving
                return 500, {}, {"error": {"message": f"responder failed: {exc!r}", "type": "server_error"}}
            return 200, {}, completion(body, answer, number)
        return _faulty(fault, body, number)

    def _refused(
        self, state: _State, fault: Fault | None, body: dict[str, Any], *, stopping: bool
    ) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        """Shutting down, an error quoting the key (scripted), over the context window, or None."""
        if stopping:
            return 503, {}, {"error": {"message": "server shutting down", "type": "server_error"}}
        if fault is not None and fault.kind == "echo_key":
            return _echo_key(fault.status, self.headers.get("authorization", ""))
        size = len(json.dumps(body.get("messages", []), ensure_ascii=False))
        if state.max_request_chars is not None and size > state.max_request_chars:
            return _context_length_exceeded(size, state.max_request_chars)
        return None

    @staticmethod
    def _over_limit(state: _State) -> float | None:
        """Seconds until a slot frees up when the per-minute limit is reached, else None."""
        if state.requests_per_minute is None:
            return None
        now = state.clock()
        while state.recent and now - state.recent[0] >= 60:
            state.recent.popleft()
        if len(state.recent) >= state.requests_per_minute:
            return 60 - (now - state.recent[0])
        state.recent.append(now)
        return None


def _next_fault(faults: deque[Fault], body: Mapping[str, Any]) -> Fault | None:
    """The first queued fault meant for this request (removed from the queue), else None."""
    text = json.dumps(body, ensure_ascii=False) if faults else ""
    for fault in faults:
        if all(part in text for part in fault.match):
            faults.remove(fault)
            return fault
    return None


def _faulty(fault: Fault, body: dict[str, Any], number: int) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The response for a scripted fault (other than a plain delay)."""
    if fault.kind == "rate_limit":
        return _rate_limited(fault.retry_after)
    if fault.kind == "server_error":
        return 500, {}, {"error": {"message": "scripted internal error", "type": "server_error"}}
    if fault.kind == "violation":
        return 200, {}, completion(body, {"unexpected": "field", "score": "high"}, number)
    if fault.kind == "empty":
        return 200, {}, completion(body, "", number)
    response = completion(body, {}, number)  # malformed: JSON cut off mid-string
    message = response["choices"][0]["message"]
    if message.get("tool_calls"):
        message["tool_calls"][0]["function"]["arguments"] = MALFORMED
    else:
        message["content"] = MALFORMED
    return 200, {}, response


def _echo_key(status: int, authorization: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    """A provider error whose text quotes the key it was sent (as some proxies and providers do)."""
    key = authorization.removeprefix("Bearer ").strip()
    message = f"Incorrect API key provided: {key}. Authorization: {authorization}"
    kind = {403: "permission_denied", 500: "server_error"}.get(status, "invalid_request_error")
    return status, {}, {"error": {"message": message, "type": kind, "param": None, "code": "invalid_api_key"}}


def _context_length_exceeded(size: int, limit: int) -> tuple[int, dict[str, str], dict[str, Any]]:
    """OpenAI's 400 for a prompt over the model's context window (sizes in characters here)."""
    message = (
        f"This model's maximum context length is {limit} tokens. However, your messages resulted in "
        f"{size} tokens. Please reduce the length of the messages."
    )
    error = {"message": message, "type": "invalid_request_error", "param": "messages"}
    return 400, {}, {"error": error | {"code": "context_length_exceeded"}}


def _rate_limited(retry_after: float) -> tuple[int, dict[str, str], dict[str, Any]]:
    error = {"message": "Rate limit reached (scripted)", "type": "requests", "code": "rate_limit_exceeded"}
    return 429, {"retry-after": f"{retry_after:g}"}, {"error": error}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: _State


class OpenAIServer:
    """`with OpenAIServer(responder) as server: ChatOpenAI(base_url=server.base_url, ...)`."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency: Callable[[], float] | None = None,
        requests_per_minute: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_request_chars: int | None = None,
    ) -> None:
        """`max_request_chars`: a context window; a request whose messages are longer (as JSON) gets
        OpenAI's 400 `context_length_exceeded`."""
        self._state = _State(
            responder=responder or by_schema({}),
            latency=latency or (lambda: 0.0),
            requests_per_minute=requests_per_minute,
            clock=clock,
            max_request_chars=max_request_chars,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("OpenAIServer is not running (use it as a context manager)")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def completions(self) -> list[dict[str, Any]]:
        """Bodies of the chat-completion requests received, in order."""
        return [r.body for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    def fault(
        self,
        kind: FaultKind,
        *,
        times: int = 1,
        retry_after: float = 0,
        seconds: float = 0,
        status: int = 400,
        match: str | tuple[str, ...] = (),
    ) -> None:
        """Queue `times` faults of `kind`; they are served before normal answers, in order (with `match`,
        only to requests whose JSON contains that text or all those texts: `("Blurb", title)`)."""
        parts = (match,) if isinstance(match, str) else match
        with self._state.lock:
            self._state.faults.extend([Fault(kind, retry_after, seconds, status, parts)] * times)

    def limit_context(self, max_request_chars: int | None) -> None:
        """Set (or lift, with None) the context window enforced from the next request on."""
        with self._state.lock:
            self._state.max_request_chars = max_request_chars

    def start(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self._state
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="openai-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._state.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
