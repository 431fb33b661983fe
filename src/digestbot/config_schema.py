"""The schema of `config/digestbot.toml` and `config/categories.toml`: frozen pydantic models.

Unknown keys are errors (`extra="forbid"`); every key has a default. `settings.py` loads and
validates the files into these models.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

STORE_SCHEMES = ("sqlite", "postgres", "postgresql", "postgresql+psycopg")


def store_url_problem(url: str) -> str | None:
    """Why `url` (DATABASE_URL / general.store_url) cannot be our store; None when it can (or is empty)."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if not url or scheme in STORE_SCHEMES:
        return None
    return (
        f"the store URL scheme {scheme or url.partition(':')[0]!r} is not supported: use postgres://… or "
        "postgresql://… (PostgreSQL), sqlite:///path, or leave it empty for SQLite in the data folder"
    )


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in {"localhost", "::1"} or host.startswith("127.")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Positive = Annotated[int, Field(gt=0)]
Seconds = Annotated[float, Field(ge=0)]
Score = Annotated[int, Field(ge=1, le=5)]


# --- sources -------------------------------------------------------------------------------------


class ArxivConfig(_Model):
    enabled: bool = True
    api_url: str = "https://export.arxiv.org/api/query"
    categories: tuple[str, ...] = ("cs.CL", "cs.AI", "cs.LG")
    keywords: tuple[str, ...] = ()  # optional: AND (abs:kw1 OR abs:kw2 ...) into the query
    page_size: Annotated[int, Field(gt=0, le=2000)] = 200
    delay_seconds: Seconds = 3.0  # arXiv etiquette: one request per 3 s (enforced unless the API is local)
    timeout_seconds: Seconds = 30.0
    max_retries: Annotated[int, Field(ge=0)] = 4
    max_results: Positive = 10_000
    # arXiv announces a paper up to ~3 days after its submission (Fri 14:00 ET -> Mon 20:00 ET), so a
    # paper submitted just before a digest's window can first appear during it. The digest also takes
    # papers submitted up to this many days earlier that no earlier digest has shown.
    announcement_lag_days: Annotated[int, Field(ge=0, le=14)] = 4

    @model_validator(mode="after")
    def _etiquette(self) -> ArxivConfig:
        if self.delay_seconds < 3.0 and not is_loopback_url(self.api_url):
            raise ValueError(
                "delay_seconds must be at least 3.0 for the real arXiv API (arXiv's terms of use)"
            )
        return self


class QiitaConfig(_Model):
    enabled: bool = True
    base_url: str = "https://qiita.com"
    tags: tuple[str, ...] = ("LLM", "生成AI", "RAG", "機械学習", "自然言語処理")
    per_page: Annotated[int, Field(gt=0, le=100)] = 100
    max_pages: Annotated[int, Field(gt=0, le=100)] = 10
    min_rate_remaining: Annotated[int, Field(ge=0)] = 5  # stop using the API below this quota


class ZennConfig(_Model):
    enabled: bool = True
    base_url: str = "https://zenn.dev"
    topics: tuple[str, ...] = ("llm", "生成ai", "rag", "機械学習", "nlp")
    enrich_with_api: bool = True  # liked counts from the unofficial JSON listing
    api_pages: Annotated[int, Field(gt=0, le=20)] = 2


class SourcesConfig(_Model):
    arxiv: ArxivConfig = ArxivConfig()
    qiita: QiitaConfig = QiitaConfig()
    zenn: ZennConfig = ZennConfig()


class HttpConfig(_Model):
    timeout_seconds: Seconds = 20.0
    max_retries: Annotated[int, Field(ge=0)] = 3
    backoff_seconds: Seconds = 1.0
    max_retry_after_seconds: Seconds = 120.0  # a longer Retry-After fails the source instead of hanging
    user_agent: str = "digestbot/0.1 (research digest bot)"


# --- pipeline --------------------------------------------------------------------------------------


class Price(_Model):
    input: Annotated[float, Field(ge=0)]  # USD per 1M input tokens
    output: Annotated[float, Field(ge=0)]  # USD per 1M output tokens


class LLMConfig(_Model):
    model: str = ""  # "openai:gpt-4o-mini", "anthropic:claude-…", "ollama:qwen2.5"; empty = offline mode
    base_url: str = ""  # any OpenAI-compatible server, e.g. http://localhost:8000/v1
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.0
    max_concurrency: Positive = 4
    requests_per_second: Annotated[float, Field(gt=0)] = 2.0
    timeout_seconds: Seconds = 60.0
    max_retries: Annotated[int, Field(ge=0)] = 3
    prices: dict[str, Price] = Field(default_factory=dict)  # model name -> price


DEFAULT_INTERESTS = (
    "LLM",
    "LLMs",
    "language model",
    "language models",
    "大規模言語モデル",
    "言語モデル",
    "生成AI",
    "GPT",
    "ChatGPT",
    "Claude",
    "Gemini",
    "Llama",
    "transformer",
    "foundation model",
    "prompt",
    "in-context learning",
    "RLHF",
    "instruction tuning",
    "retrieval-augmented",
    "RAG",
    "chain-of-thought",
    "vision-language",
)


class PrefilterConfig(_Model):
    enabled: bool = True
    min_keyword_hits: Annotated[int, Field(ge=0)] = 1  # title+abstract hits on any category keyword
    interests: tuple[str, ...] = DEFAULT_INTERESTS
    require_interest: bool = True  # an item must mention at least one interest (its LLM-ness)
    exclude: tuple[str, ...] = ()  # drop items whose title contains one of these


class PrerankConfig(_Model):
    """The local-embedding pre-rank in front of the LLM classifier (LLM mode only; `agents/prerank.py`)."""

    enabled: bool = True
    # Each category keeps its `ceil(cap × margin)` nearest candidates; the classifier sees their union.
    margin: Annotated[float, Field(gt=0)] = 3.0
    # Never cut: an item whose keyword score for a category reaches this with a keyword in its title.
    strong_keyword_score: Annotated[float, Field(gt=0)] = 12.0


class JudgeConfig(_Model):
    min_relevance: Score = 3
    min_significance: Score = 2
    min_faithfulness: Score = 4
    min_japanese: Score = 4
    max_revisions: Annotated[int, Field(ge=0, le=3)] = 1


class PipelineConfig(_Model):
    summary_max_chars: Annotated[int, Field(ge=40, le=400)] = 120
    min_japanese_ratio: Annotated[float, Field(ge=0, le=1)] = (
        0.3  # kana/kanji share of letters; English terms are common
    )
    total_cap: Positive = 40
    # Cost ladder: only the best items (by the classifier's relevance, then confidence, then popularity),
    # at most `cap × shortlist_factor` per category and `total_cap × shortlist_factor` in all, are
    # summarized and judged. 0 = summarize everything.
    shortlist_factor: Annotated[float, Field(ge=0)] = 1.5
    min_classifier_relevance: Score = 2  # below this the classifier's verdict alone drops the item
    other_category: str | None = "other"  # None (or "") = drop items that fit no category
    prefilter: PrefilterConfig = PrefilterConfig()
    prerank: PrerankConfig = PrerankConfig()
    judge: JudgeConfig = JudgeConfig()


# --- delivery and schedule -----------------------------------------------------------------------------


class SlackConfig(_Model):
    api_url: str = "https://slack.com/api/"
    channel: str = "#llm-digest"
    admin_channel: str = ""
    show_reason: bool = False  # the classifier's one-line reason as a small context line under each item
    min_seconds_between_posts: Seconds = 1.0
    ondemand_visibility: Literal["channel", "ephemeral"] = "channel"
    allowed_channels: tuple[str, ...] = ()  # empty = every channel the bot is in
    allowed_users: tuple[str, ...] = ()  # empty = everyone

    @field_validator("api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"


class CronConfig(_Model):
    day_of_week: str = (
        "*"  # names (mon,tue…) or keywords; never crontab digits (APScheduler counts Monday as 0)
    )
    hour: str = "9"
    minute: str = "0"
    second: str = "0"  # rarely needed; lets a test or a demo schedule a run a few seconds ahead


class ScheduleConfig(_Model):
    timezone: str = "Asia/Tokyo"
    weekly_digest: CronConfig = CronConfig(day_of_week="mon", hour="9", minute="0")
    ingest_arxiv: CronConfig = CronConfig(day_of_week="mon-fri", hour="10", minute="30")
    ingest_feeds: CronConfig = CronConfig(day_of_week="*", hour="*/4", minute="15")
    misfire_grace_seconds: Positive = 3600


class TrendsConfig(_Model):
    enabled: bool = True  # the trends section of weekly digests
    compare_weeks: Annotated[int, Field(ge=1, le=12)] = 4  # this week vs the mean of the N weeks before
    rising_terms: Annotated[int, Field(ge=0, le=20)] = 5  # at most this many rising terms
    insight: bool = True  # the trends agent's 2-sentence 考察 (LLM mode, once an earlier week exists)
    insight_max_chars: Annotated[int, Field(ge=60, le=400)] = 200
    chart_weeks: Annotated[int, Field(ge=2, le=26)] = 12  # weeks in the chart (8-12 read well on a phone)
    chart_in_thread: bool = True  # upload the chart PNG into the digest's thread (needs files:write)


class FeedbackConfig(_Model):
    buttons: bool = True  # 👍/👎 under each item (needs Interactivity; `digestbot serve` records votes)
    guidance: bool = True  # show the judge this team's recent liked and disliked items
    guidance_examples: Annotated[int, Field(ge=0, le=20)] = 5  # liked and disliked examples, each
    guidance_days: Positive = 90  # only votes from the last N days count
    # The learned ranking (`taste.py`): a logistic regression on the voted items' embeddings, blended
    # into the judge's rank. Below `ranking_min_votes` voted items the order is exactly the judge's.
    ranking: bool = True
    ranking_weight: Annotated[float, Field(ge=0, le=10)] = 1.0  # rank points a sure 👍 adds (👎 takes)
    ranking_min_votes: Annotated[int, Field(ge=10, le=10_000)] = 30  # items with a net vote, 5+ each way


class FollowConfig(_Model):
    """`/digest follow`: who each item is for (👀) and the followers' own DM digests."""

    enabled: bool = True  # the follow/unfollow/me commands, the 👀 lines and the DM digests
    mention: bool = True  # false: stored display names as plain text, nobody is pinged
    max_mentions_per_message: Annotated[int, Field(ge=0, le=50)] = 10  # distinct people pinged per message
    max_mentions_per_item: Annotated[int, Field(ge=1, le=20)] = 5  # names on one item before 「ほかN人」
    max_follows_per_user: Annotated[int, Field(ge=1, le=100)] = 20
    max_keyword_chars: Annotated[int, Field(ge=2, le=100)] = 40
    dm: bool = True  # members who chose `--dm` get their matching items by DM after the weekly post
    dm_max_items: Annotated[int, Field(ge=1, le=30)] = 10


class LinksConfig(_Model):
    """Article <-> paper links (解説記事 / 元論文 / 今週の解説記事); the rule is in `links.py`."""

    enabled: bool = True
    max_papers: Annotated[int, Field(ge=1, le=20)] = (
        3  # an article naming more papers is a list, not attached
    )
    per_entry: Annotated[int, Field(ge=1, le=5)] = 2  # 解説記事 / 元論文 lines under one entry
    this_week_cap: Annotated[int, Field(ge=0, le=20)] = 5  # 「今週の解説記事」 lines (0 = no section)
    article_days: Annotated[int, Field(ge=1, le=365)] = (
        28  # articles this far before the window are linked too
    )
    title_days: Annotated[int, Field(ge=1, le=3650)] = 365  # papers matched by title: published this far back
    min_title_chars: Annotated[int, Field(ge=8, le=200)] = 16  # shorter normalized titles never match


class WatchConfig(_Model):
    """The watchlist: a match goes to the 注目 section at the top, outside the caps (`watch.py`)."""

    authors: tuple[str, ...] = ()  # arXiv / Qiita / Zenn author names, full names: "Łukasz Kaiser"
    arxiv_ids: tuple[str, ...] = ()  # "2401.10491", "arXiv:2401.10491v2", an arxiv.org/abs/ URL
    keywords: tuple[str, ...] = ()  # words or phrases, word-bounded: "RAG" never matches "fragment"
    users: tuple[str, ...] = ()  # Qiita / Zenn user names (the URL's): "@karaage0703", "hmatsu47"
    max_items: Annotated[int, Field(ge=1, le=20)] = 10  # more matches: 「他N件」 under the section

    @field_validator("authors", "keywords", "users")
    @classmethod
    def _not_blank(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not value.strip() or not value.strip().lstrip("@"):
                raise ValueError("an empty entry matches nothing: remove it")
            if len(value) > 200:
                raise ValueError(f"{value[:40]!r}… is longer than 200 characters")
        return values

    @field_validator("arxiv_ids")
    @classmethod
    def _arxiv_ids(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        from digestbot.sources.text import find_arxiv_ids

        normalized = []
        for value in values:
            found = find_arxiv_ids(value)
            if len(found) != 1:
                raise ValueError(
                    f"{value!r} is not one arXiv id: write it as 2401.10491 (or arXiv:2401.10491, "
                    "an arxiv.org/abs/ link, cs/0601001)"
                )
            normalized.append(found[0])
        return tuple(dict.fromkeys(normalized))


class CorrectionsConfig(_Model):
    """Fixing the digest in Slack: the overflow menu 「要約を直す」/「カテゴリを直す」 under each item."""

    enabled: bool = True  # the overflow menu (needs Interactivity; `digestbot serve` handles it)
    allowed_users: tuple[str, ...] = ()  # Slack user ids allowed besides the digest channel's members
    members_cache_seconds: Annotated[float, Field(ge=0, le=3600)] = 60.0  # conversations.members cache
    note_max_chars: Annotated[int, Field(ge=20, le=1000)] = 300  # the 「要約を直す」 note
    examples: Annotated[int, Field(ge=0, le=30)] = 8  # category corrections shown to the classifier
    examples_days: Positive = 365  # only corrections of the last N days are few-shot examples


class GeneralConfig(_Model):
    timezone: str = "Asia/Tokyo"
    data_dir: str = "data"  # relative to the working directory
    agents_dir: str = "agents"  # agent prompt files (agents/<name>.md); DIGESTBOT_AGENTS_DIR overrides
    store_url: str = ""  # empty = sqlite:///<data_dir>/digestbot.sqlite; DATABASE_URL overrides
    default_window_days: Positive = 7
    digest_title: str = "📚 LLMリサーチダイジェスト"


class AppConfig(_Model):
    general: GeneralConfig = GeneralConfig()
    sources: SourcesConfig = SourcesConfig()
    http: HttpConfig = HttpConfig()
    llm: LLMConfig = LLMConfig()
    pipeline: PipelineConfig = PipelineConfig()
    slack: SlackConfig = SlackConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    trends: TrendsConfig = TrendsConfig()
    feedback: FeedbackConfig = FeedbackConfig()
    follow: FollowConfig = FollowConfig()

    links: LinksConfig = LinksConfig()
    watch: WatchConfig = WatchConfig()
    corrections: CorrectionsConfig = CorrectionsConfig()


# --- categories ------------------------------------------------------------------------------------------


class Category(_Model):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    name: Annotated[str, Field(min_length=1)]
    emoji: str = "📄"
    description: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    keywords_en: tuple[str, ...] = ()
    keywords_ja: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    # Terms that, in an item's title, declare a paper type this category is defined by ("survey"):
    # the offline classifier then puts the item here whatever its topic.
    title_terms: tuple[str, ...] = ()
    cap: Positive = 8

    @property
    def keywords(self) -> tuple[str, ...]:
        return self.keywords_en + self.keywords_ja


class CategoriesFile(_Model):
    category: tuple[Category, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> CategoriesFile:
        seen: set[str] = set()
        for cat in self.category:
            if cat.id == "watch":  # domain.WATCH_SECTION
                raise ValueError("category id 'watch' is reserved (the 注目 section, `/digest watch`)")
            if cat.id in seen:
                raise ValueError(f"category id {cat.id!r} appears twice")
            seen.add(cat.id)
        return self
