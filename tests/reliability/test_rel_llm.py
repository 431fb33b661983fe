"""The LLM misbehaving during a whole run (real ChatOpenAI against the fake OpenAI server).

A passing fault is retried or repaired and costs nothing; a fault that persists for one item holds
that item back and reports it; a model that is down entirely posts nothing and says so. A model's
broken output never reaches Slack as content.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from typing import Any

import pytest

from digestbot.runner import RunError
from digestbot.testing.openai_server import FaultKind, Refusal, schema_name
from reliability.harness import (
    ARXIV_TITLES,
    DAYS,
    GOOD_BLURB,
    WINDOW,
    Boom,
    Hang,
    Reply,
    Stack,
    arxiv_entry,
    classify_all,
    publish_recent,
    unsafe_parts,
    wait_until,
)
from support.worker_env import Worker

VICTIM = ARXIV_TITLES[0]  # the item the targeted faults hit (its title is in its own prompts only)
FAILED_NOTE = "1件の処理に失敗したため掲載を見送りました"

PERSISTENT: dict[str, tuple[str, Reply, str]] = {
    # name: (agent schema, what the model answers for VICTIM every time, the reported cause)
    "500-every-time": ("Blurb", Boom, "model provider error (3 attempts)"),
    "timeout-every-time": ("Blurb", Hang(3.0), "no answer from the model within 0.5 s (3 attempts)"),
    "invalid-json": ("Blurb", '{"blurb": "途中で切れた', "not valid JSON"),
    "schema-violation": ("Blurb", {"summary": "blurb の代わりに別のキー"}, "does not match Blurb"),
    "empty-output": ("Blurb", "", "the answer was empty"),
    "refusal": ("Blurb", Refusal("I'm sorry, but I can't help with that."), "the model refused"),
    "wrong-language": ("Blurb", {"blurb": "This paper proposes a new reranker for RAG."}, "Japanese share"),
    "over-long-blurb": ("Blurb", {"blurb": "検索精度を大きく改善した。" * 30}, "/120 chars"),
    "judge-500-every-time": ("Verdict", Boom, "judge: model provider error"),
    "judge-schema-violation": ("Verdict", {"relevance": "high", "score": 5}, "does not match Verdict"),
}
BAD_TEXT = [
    "途中で切れた",
    "blurb の代わりに",
    "I'm sorry",
    "This paper proposes",
    "検索精度を大きく改善した。",
]


@pytest.mark.parametrize("fault", list(PERSISTENT))
def test_an_item_the_model_keeps_failing_is_held_back_and_reported(stack: Stack, fault: str) -> None:
    """Retries/repairs run out for one item: it is left out, the note says so, the rest is posted."""
    schema, reply, cause = PERSISTENT[fault]
    stack.configure(llm_timeout="0.5")
    stack.model.on(schema, VICTIM, reply)

    outcome = stack.run()

    posted = "\n".join(stack.slack_payloads())
    failures = outcome.stats()["failures"]
    expected = (6, 1, 1, True, False, [])
    assert expected == (
        outcome.digest.entry_count,
        len(failures),
        len(stack.top_level()),
        FAILED_NOTE in posted,
        VICTIM in posted,
        [text for text in BAD_TEXT if text in posted],
    )
    assert cause in failures[0]["detail"]
    assert {GOOD_BLURB} == {e.blurb for s in outcome.digest.sections for e in s.entries}


TRANSIENT: dict[str, tuple[FaultKind, int, dict[str, Any]]] = {
    # name: (fault served to the next requests, how many, options); fewer than any call's retry budget
    "429-burst": ("rate_limit", 2, {"retry_after": 0}),
    "500-burst": ("server_error", 2, {}),
    "timeout-burst": ("delay", 2, {"seconds": 2.0}),
    "invalid-json-once": ("malformed", 1, {}),
    "schema-violation-once": ("violation", 1, {}),
    "empty-output-once": ("empty", 1, {}),
}


@pytest.mark.parametrize("fault", list(TRANSIENT))
def test_a_passing_model_fault_is_retried_and_costs_no_item(stack: Stack, fault: str) -> None:
    """A burst shorter than the retry budget is absorbed: every item is posted with its real blurb."""
    kind, times, options = TRANSIENT[fault]
    stack.configure(llm_timeout="0.5")
    stack.llm.fault(kind, times=times, **options)

    outcome = stack.run()

    posted = "\n".join(stack.slack_payloads())
    expected = (7, [], 1, False)
    assert expected == (
        outcome.digest.entry_count,
        outcome.stats()["failures"],
        len(stack.top_level()),
        "失敗" in posted,
    )
    assert {GOOD_BLURB} == {e.blurb for s in outcome.digest.sections for e in s.entries}
    wait_until(lambda: len(stack.llm.requests) >= 15 + times, what="the faulted requests to be recorded")


def _refuse_connections(stack: Stack, refused: str) -> None:
    stack.configure(llm_url=f"{refused}/v1")


def _rate_limit_forever(stack: Stack, _: str) -> None:
    stack.llm.fault("rate_limit", times=1000, retry_after=0)


def _model_gone(stack: Stack, _: str) -> None:
    for schema in ("ClassificationBatch", "Blurb", "Verdict"):
        stack.model.on(schema, "", Boom)


DOWN = {
    "connection-refused": (_refuse_connections, "cannot reach the model server"),
    "429-forever": (_rate_limit_forever, "rate limited by the model provider"),
    "500-forever": (_model_gone, "model provider error"),
}


@pytest.mark.parametrize("outage", list(DOWN))
def test_llm_entirely_down_posts_nothing_and_raises_a_clear_alert(
    stack: Stack, refused_url: str, outage: str
) -> None:
    """No model answer at all: RunError naming the LLM settings, nothing sent to Slack, no digest saved."""
    inject, cause = DOWN[outage]
    inject(stack, refused_url)

    with pytest.raises(RunError) as raised:
        stack.run()

    expected = ([], False, True)
    assert expected == (
        stack.posts(),
        (stack.data_dir / "digests" / "latest.json").exists(),
        "nothing was posted" in str(raised.value) and "Check the LLM settings" in str(raised.value),
    )
    assert cause in str(raised.value)


def test_llm_misconfigured_through_the_cli_exits_1_with_one_alert_line(stack: Stack) -> None:
    """`digestbot run` against a wrong model endpoint (404) exits 1 with one alert line and posts nothing."""
    stack.configure(llm_url=f"{stack.llm.base_url}/wrong")

    result = stack.cli("run", *DAYS)

    alert = [line for line in result.stderr.splitlines() if line.startswith("run failed:")]
    expected = (1, 1, [], False)
    assert expected == (result.exit_code, len(alert), stack.posts(), "Traceback" in result.output)
    assert "the model provider does not know this model: check llm.model" in alert[0]


def test_summarizer_down_but_classifier_up_posts_nothing(stack: Stack) -> None:
    """Every summary failing is an outage even when some items were dropped earlier: nothing is posted."""
    stack.model.on("ClassificationBatch", "", _classify_some_low)
    stack.model.on("Blurb", "", Boom)

    with pytest.raises(RunError):
        stack.run()

    assert [] == stack.posts()


def _classify_some_low(request: dict[str, Any]) -> dict[str, Any]:
    answer = classify_all(request)
    answer["results"][0]["relevance"] = 1  # the classifier drops this one before any summary
    return answer


EVERY_TWENTY_SECONDS = '{ day_of_week = "*", hour = "*", minute = "*", second = "*/20" }'


@pytest.mark.slow
def test_weekly_job_with_the_llm_unusable_posts_nothing_and_alerts_the_admin_channel(
    stack: Stack, start_worker: Callable[[str], Worker]
) -> None:
    """A real `digestbot serve` worker process runs the weekly job against a wrong model endpoint: no
    digest in the channel, one alert in the admin channel saying why (the worker is stopped before the
    next fire, 20 s later, could retry); the worker stops cleanly on SIGTERM."""
    stack.configure(
        llm_url=f"{stack.llm.base_url}/wrong",
        extra=f'admin_channel = "#random"\n\n[schedule]\nweekly_digest = {EVERY_TWENTY_SECONDS}\n',
    )
    publish_recent(stack)
    worker = start_worker("worker")

    def alerts() -> list[str]:
        return [
            str(r.body.get("text", ""))
            for r in stack.slack.calls("chat.postMessage")
            if r.body.get("channel") == "#random"
        ]

    wait_until(lambda: bool(alerts()), timeout=90, what="the admin alert from the worker")
    code = worker.stop()

    expected = ([], 1, 0, True)
    assert expected == (
        stack.top_level(),
        len(alerts()),
        code,
        "weekly_digest" in worker.output and "failed" in worker.output,
    ), worker.output
    assert "失敗しました" in alerts()[0] and "the model provider does not know this model" in alerts()[0]


def test_an_alert_quoting_the_models_words_cannot_ping_the_admin_channel(stack: Stack) -> None:
    """A refusal carrying `<!channel>` ends the weekly run; the alert quoting it arrives escaped."""
    from digestbot import jobs
    from digestbot.config_reload import ConfigHolder
    from digestbot.settings import load_settings

    stack.configure(extra='admin_channel = "#random"')
    stack.model.on("ClassificationBatch", "", Refusal("<!channel> <@U0BOSS> @here I refuse"))
    settings = load_settings()

    outcome = jobs.run_weekly(settings, WINDOW, jobs.JobRuntime(ConfigHolder(lambda: settings)))

    posts = stack.slack.calls("chat.postMessage")
    alerts = [str(r.body.get("text", "")) for r in posts if r.body.get("channel") == "#random"]
    expected = ("failed", 1, [], True)
    assert expected == (outcome, len(alerts), unsafe_parts(alerts[0]), "&lt;!channel&gt;" in alerts[0])


# --- a model with a small context window ------------------------------------------------------------------

HUGE_TITLE = "LLM serving at scale " + "長いタイトル" * 50_000  # 300 kB
OVERSIZED = {  # name: (the 4th arXiv paper's title, the context window in characters from the measured sizes)
    "300kB-title": (HUGE_TITLE, lambda full, half: full + 600),  # a batch fits once its title is clipped
    "batch-over-the-window": ("LLM serving at scale", lambda full, half: (full + half) // 2),  # halves fit
}


def classifier_request_chars(stack: Stack, arxiv_titles: list[str]) -> int:
    """The size (as the fake measures it) of the one classifier request for the standard feeds plus
    these arXiv papers, from a dry run on an empty store."""
    stack.set_arxiv([arxiv_entry(n, t) for n, t in enumerate(arxiv_titles, 1)])
    before = len(stack.llm.completions)
    stack.run(dry_run=True)
    shutil.rmtree(stack.data_dir)
    batches = [b for b in stack.llm.completions[before:] if schema_name(b) == "ClassificationBatch"]
    assert 1 == len(batches)
    return len(json.dumps(batches[0]["messages"], ensure_ascii=False))


@pytest.mark.parametrize("case", list(OVERSIZED))
def test_an_oversized_item_or_batch_never_holds_back_the_others(stack: Stack, case: str) -> None:
    """A context-limited model (400 `context_length_exceeded` over N characters): a 300 kB title is
    clipped before it reaches a prompt, and a batch over the window is split, so all 8 items are
    classified and posted (was: the 8 items of the batch held back); no request is over the window."""
    title, window = OVERSIZED[case]
    arxiv_titles = [*ARXIV_TITLES, "LLM serving at scale"]
    full = classifier_request_chars(stack, arxiv_titles)
    half = classifier_request_chars(stack, [])  # the 4 feed articles alone: half the batch
    limit = window(full, half)
    stack.llm.limit_context(limit)
    stack.set_arxiv([arxiv_entry(n, t) for n, t in enumerate([*ARXIV_TITLES, title], 1)])
    start = len(stack.llm.requests)

    outcome = stack.run()

    answered = [r for r in stack.llm.requests[start:] if r.status == 200]
    sizes = [len(json.dumps(r.body["messages"], ensure_ascii=False)) for r in answered]
    # not vacuous: the raw title alone, or the whole batch, is over the window
    over = len(title) > limit if case == "300kB-title" else full > limit
    expected = (True, 8, [], 8, True)
    assert expected == (
        over,
        outcome.digest.entry_count,
        outcome.stats()["failures"],
        sum(schema_name(r.body) == "Blurb" for r in answered),
        max(sizes) <= limit,
    )
