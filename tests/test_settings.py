"""Configuration: validation messages, environment overrides, secrets, store URLs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digestbot.cli import app
from digestbot.settings import ConfigError, load_settings, normalize_store_url, redact_url

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(REPO_CONFIG, folder)
    return folder


def _append(folder: Path, text: str, name: str = "digestbot.toml") -> None:
    with (folder / name).open("a", encoding="utf-8") as fh:
        fh.write(text)


def test_shipped_config_is_valid() -> None:
    """The config folder in the repository loads, with categories in file order."""
    settings = load_settings(REPO_CONFIG, {})
    assert "training" == settings.categories[0].id
    assert settings.offline


def test_unknown_key_names_file_and_key(config_dir: Path) -> None:
    """A misspelt key gives one line naming the file and the dotted key."""
    text = (config_dir / "digestbot.toml").read_text(encoding="utf-8")
    (config_dir / "digestbot.toml").write_text(
        text.replace("page_size = 200", "page_sise = 200"), encoding="utf-8"
    )
    with pytest.raises(ConfigError) as err:
        load_settings(config_dir, {})
    message = str(err.value)
    assert (True, True, True) == (
        message.startswith(str(config_dir / "digestbot.toml")),
        "sources.arxiv.page_sise" in message,
        "unknown key" in message,
    )


def test_wrong_type_says_what_was_given(config_dir: Path) -> None:
    """A value of the wrong type is reported with the key and the value given."""
    text = (config_dir / "digestbot.toml").read_text(encoding="utf-8")
    (config_dir / "digestbot.toml").write_text(
        text.replace("max_concurrency = 4", 'max_concurrency = "four"'), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"llm\.max_concurrency: .*'four'"):
        load_settings(config_dir, {})


def test_bad_category_names_the_category(config_dir: Path) -> None:
    """A category missing its description is reported by its id."""
    _append(config_dir, '\n[[category]]\nid = "robots"\nname = "ロボット"\n', "categories.toml")
    with pytest.raises(
        ConfigError, match=r"categories\.toml: category\[robots\]\.description: required key is missing"
    ):
        load_settings(config_dir, {})


def test_duplicate_category_id_is_rejected(config_dir: Path) -> None:
    """Two categories with one id are an error."""
    _append(config_dir, '\n[[category]]\nid = "rag"\nname = "x"\ndescription = "y"\n', "categories.toml")
    with pytest.raises(ConfigError, match="appears twice"):
        load_settings(config_dir, {})


def test_other_category_must_exist(config_dir: Path) -> None:
    """`pipeline.other_category` must name a configured category."""
    text = (config_dir / "digestbot.toml").read_text(encoding="utf-8")
    (config_dir / "digestbot.toml").write_text(
        text.replace('other_category = "other"', 'other_category = "misc"'), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"pipeline\.other_category: 'misc'"):
        load_settings(config_dir, {})


def test_invalid_toml_is_reported(config_dir: Path) -> None:
    """A TOML syntax error names the file."""
    _append(config_dir, "\n[llm\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config_dir, {})


def test_environment_overrides_endpoints(config_dir: Path) -> None:
    """Every documented endpoint variable overrides the file."""
    env = {
        "DIGESTBOT_ARXIV_API_URL": "http://127.0.0.1:1/api/query",
        "DIGESTBOT_QIITA_BASE_URL": "http://127.0.0.1:2",
        "DIGESTBOT_ZENN_BASE_URL": "http://127.0.0.1:3",
        "DIGESTBOT_SLACK_API_URL": "http://127.0.0.1:4/api",
        "DIGESTBOT_LLM_BASE_URL": "http://127.0.0.1:5/v1",
        "DIGESTBOT_LLM_MODEL": "openai:gpt-4o-mini",
    }
    app_config = load_settings(config_dir, env).app
    assert (
        "http://127.0.0.1:1/api/query",
        "http://127.0.0.1:2",
        "http://127.0.0.1:3",
        "http://127.0.0.1:4/api/",
        "http://127.0.0.1:5/v1",
        "openai:gpt-4o-mini",
    ) == (
        app_config.sources.arxiv.api_url,
        app_config.sources.qiita.base_url,
        app_config.sources.zenn.base_url,
        app_config.slack.api_url,
        app_config.llm.base_url,
        app_config.llm.model,
    )


def test_arxiv_etiquette_enforced_for_the_real_api(config_dir: Path) -> None:
    """Less than 3 s between arXiv requests is refused unless the API is a local server."""
    text = (config_dir / "digestbot.toml").read_text(encoding="utf-8")
    (config_dir / "digestbot.toml").write_text(
        text.replace("delay_seconds = 3.0", "delay_seconds = 0.5"), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"at least 3\.0"):
        load_settings(config_dir, {})
    local = load_settings(config_dir, {"DIGESTBOT_ARXIV_API_URL": "http://127.0.0.1:9/api/query"})
    assert 0.5 == local.app.sources.arxiv.delay_seconds


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "sqlite:///data/digestbot.sqlite"),
        ("postgres://u:p@db:5432/x", "postgresql+psycopg://u:p@db:5432/x"),
        ("postgresql://u@db/x", "postgresql+psycopg://u@db/x"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_store_url_normalization(url: str, expected: str) -> None:
    """Empty means SQLite in the data dir; Heroku's postgres:// becomes psycopg 3."""
    assert expected == normalize_store_url(url, Path("data"))


def test_redact_url_hides_password() -> None:
    """A database password never appears in printed URLs."""
    assert "postgresql+psycopg://user:***@db:5432/x" == redact_url(
        "postgresql+psycopg://user:s3cret@db:5432/x"
    )


def test_config_check_redacts_secrets(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`config check` prints the effective config with every secret and the DB password redacted."""
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("DATABASE_URL", "postgres://bot:hunter2@db.example:5432/digest")
    result = CliRunner().invoke(app, ["config", "check"])
    assert 0 == result.exit_code, result.output
    effective = json.loads(result.stdout)
    assert ("set (redacted)", False, False, False) == (
        effective["secrets"]["slack_bot_token"],
        "very-secret" in result.output,
        "hunter2" in result.output,
        "hunter2" in effective["config"]["general"]["store_url"],
    )


def test_config_check_reports_errors_in_one_line(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken config makes `config check` exit 2 with the file and key."""
    _append(config_dir, "\n[slack]\nchanel = 'x'\n")
    monkeypatch.setenv("DIGESTBOT_CONFIG_DIR", str(config_dir))
    result = CliRunner().invoke(app, ["config", "check"])
    assert 2 == result.exit_code


def test_empty_secret_counts_as_unset(config_dir: Path) -> None:
    """An empty `OPENAI_API_KEY=` line (as in .env.example) is not a key."""
    settings = load_settings(config_dir, {"OPENAI_API_KEY": "", "SLACK_BOT_TOKEN": "xoxb-1"})
    assert ("unset", "set (redacted)") == (
        settings.secrets.redacted()["openai_api_key"],
        settings.secrets.redacted()["slack_bot_token"],
    )


def test_agents_folder_is_found_beside_the_config_folder(
    tmp_path: Path, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from another directory, the default `agents` folder is the one next to `config/`."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (config_dir.parent / "agents").mkdir()
    monkeypatch.chdir(elsewhere)
    assert config_dir.parent / "agents" == load_settings(config_dir, {}).agents_dir


def test_duplicate_category_id_is_one_short_line(config_dir: Path) -> None:
    """A repeated id names the id and the file, without dumping the file's content."""
    _append(config_dir, '\n[[category]]\nid = "rag"\nname = "x"\ndescription = "y"\n', "categories.toml")
    with pytest.raises(ConfigError) as raised:
        load_settings(config_dir, {})
    assert f"{config_dir / 'categories.toml'}: category: category id 'rag' appears twice" == str(raised.value)


def test_unknown_key_in_categories_points_at_categories_toml(config_dir: Path) -> None:
    """The hint of an unknown category key names categories.toml, not digestbot.toml."""
    text = (config_dir / "categories.toml").read_text(encoding="utf-8")
    (config_dir / "categories.toml").write_text(
        text.replace("description =", 'colour = "red"\ndescription =', 1), encoding="utf-8"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(config_dir, {})
    assert (
        "categories.toml for the known keys" in str(raised.value),
        "digestbot.toml" in str(raised.value),
    ) == (
        True,
        False,
    )
