"""Agent prompt files (`agents/<name>.md`): YAML front matter + a Jinja2 body, loaded into frozen specs.

File layout::

    ---
    name: summarizer            # must match the file name
    description: ...
    model: null                 # optional "provider:model" override (null = llm.model)
    temperature: null           # optional override (null = llm.temperature)
    batch_size: 1               # items per call (only the classifier batches)
    output: Blurb               # structured-output schema (graph/state.py)
    variables: [item, max_chars]  # exactly the variables the body uses
    ---
    {# comments for editors; Jinja drops them #}
    ## system
    ...system prompt...
    ## user
    ...user prompt...

The body is split at the lines `## system` and `## user` (exact, each once, in that order) and rendered
with `StrictUndefined`: a missing variable is an error, never an empty string.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel

from digestbot.agents.base import AGENT_NAMES
from digestbot.graph.state import Blurb, Classification, ClassificationBatch, Verdict
from digestbot.settings import ConfigError, utf8_text

if TYPE_CHECKING:  # langchain is imported by render() only: `config check` loads every spec quickly
    from langchain_core.messages import BaseMessage

SCHEMAS: dict[str, type[BaseModel]] = {
    model.__name__: model for model in (Classification, ClassificationBatch, Blurb, Verdict)
}
EXPECTED_OUTPUT = {"classifier": "ClassificationBatch", "summarizer": "Blurb", "judge": "Verdict"}
REQUIRED_KEYS = ("name", "description", "batch_size", "output", "variables")
OPTIONAL_KEYS = ("model", "temperature")

_FRONT_MATTER = re.compile(
    r"\A---[ \t]*\r?\n(?P<yaml>.*?)^---[ \t]*(?:\r?\n|\Z)(?P<body>.*)\Z", re.DOTALL | re.MULTILINE
)
_SECTION = re.compile(r"^## (system|user)[ \t]*\r?$", re.MULTILINE)
_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)


@dataclass(frozen=True)
class AgentSpec:
    """One agent file, validated. `prompt_hash` is the sha256 of the file's bytes."""

    path: Path
    name: str
    description: str
    model: str | None
    temperature: float | None
    batch_size: int
    output: str
    variables: tuple[str, ...]
    system_template: str
    user_template: str
    prompt_hash: str
    _system: Template = field(repr=False, compare=False)
    _user: Template = field(repr=False, compare=False)

    @property
    def schema(self) -> type[BaseModel]:
        return SCHEMAS[self.output]

    def render(self, **variables: Any) -> list[BaseMessage]:
        """`[SystemMessage, HumanMessage]`; every declared variable must be given, and nothing else."""
        from langchain_core.messages import HumanMessage, SystemMessage

        system, user = self.render_text(**variables)
        return [SystemMessage(content=system), HumanMessage(content=user)]

    def render_text(self, **variables: Any) -> tuple[str, str]:
        """The (system, user) prompt texts; the same checks as `render`."""
        missing = [v for v in self.variables if v not in variables]
        extra = sorted(set(variables) - set(self.variables))
        if missing or extra:
            problem = (
                f"variable {missing[0]!r} was not provided"
                if missing
                else f"unexpected variable {extra[0]!r}"
            )
            raise ConfigError(f"{self.path}: render: {problem}")
        try:
            system = self._system.render(**variables).strip()
            user = self._user.render(**variables).strip()
        except TemplateError as exc:
            raise ConfigError(f"{self.path}: render: {exc.message}") from None
        return system, user


def _error(path: Path, where: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {where}: {message}")


def _front_matter(path: Path, text: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise _error(
            path, "front matter", "missing: the file must start with a '---' line and close it with '---'"
        )
    try:
        data = yaml.safe_load(match.group("yaml"))
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 2})" if line is not None else ""
        raise _error(path, "front matter", f"not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise _error(path, "front matter", "must be a mapping of keys to values")
    return data, match.group("body")


def _check_keys(path: Path, data: Mapping[str, Any]) -> None:
    for key in data:
        if key not in REQUIRED_KEYS + OPTIONAL_KEYS:
            raise _error(path, "front matter", f"unknown key {key!r}")
    for key in REQUIRED_KEYS:
        if key not in data:
            raise _error(path, "front matter", f"missing key {key!r}")


def _typed(path: Path, data: Mapping[str, Any]) -> dict[str, Any]:
    def bad(key: str, want: str) -> ConfigError:
        return _error(path, "front matter", f"{key} must be {want} (got {data[key]!r})")

    for key in ("name", "description", "output"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise bad(key, "a non-empty string")
    if data["name"] != path.stem:
        raise bad("name", f"{path.stem!r}, the file name")
    if data["output"] not in SCHEMAS:
        raise bad("output", f"one of {', '.join(SCHEMAS)}")
    batch = data["batch_size"]
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise bad("batch_size", "an integer >= 1")
    model = data.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise bad("model", 'null or "provider:model"')
    temperature = data.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 2
    ):
        raise bad("temperature", "null or a number from 0 to 2")
    variables = data["variables"]
    if not isinstance(variables, list) or not all(isinstance(v, str) and v.isidentifier() for v in variables):
        raise bad("variables", "a list of variable names")
    if len(set(variables)) != len(variables):
        raise bad("variables", "a list without repeats")
    return {
        "name": data["name"],
        "description": data["description"].strip(),
        "model": model.strip() if isinstance(model, str) else None,
        "temperature": None if temperature is None else float(temperature),
        "batch_size": batch,
        "output": data["output"],
        "variables": tuple(variables),
    }


def _sections(path: Path, body: str) -> tuple[str, str]:
    marks = list(_SECTION.finditer(body))
    if [m.group(1) for m in marks] != ["system", "user"]:
        raise _error(path, "body", "needs one '## system' line followed by one '## user' line")
    preamble = _COMMENT.sub("", body[: marks[0].start()]).strip()
    if preamble:
        raise _error(path, "body", "text before '## system' (put notes in a {# ... #} comment)")
    return body[marks[0].end() : marks[1].start()].strip("\r\n"), body[marks[1].end() :].strip("\r\n")


def _compile(path: Path, part: str, source: str) -> tuple[Template, set[str]]:
    try:
        used = meta.find_undeclared_variables(_ENV.parse(source))
        return _ENV.from_string(source), set(used)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        raise _error(
            path, f"body ({part})", f"template error{f' at line {line}' if line else ''}: {exc.message}"
        ) from None


def load_agent(path: Path) -> AgentSpec:
    """Parse and validate one agent file. Raises `ConfigError` with one line naming the file and the key."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    text = utf8_text(path, raw)
    data, body = _front_matter(path, text)
    _check_keys(path, data)
    fields = _typed(path, data)
    system_source, user_source = _sections(path, body)
    system, system_vars = _compile(path, "system", system_source)
    user, user_vars = _compile(path, "user", user_source)
    used = system_vars | user_vars
    declared = set(fields["variables"])
    if undeclared := sorted(used - declared):
        raise _error(path, "front matter", f"variables: the body uses {undeclared[0]!r}, which is not listed")
    if unused := [v for v in fields["variables"] if v not in used]:
        raise _error(path, "front matter", f"variables: {unused[0]!r} is listed but the body never uses it")
    return AgentSpec(
        path=path,
        system_template=system_source,
        user_template=user_source,
        prompt_hash=hashlib.sha256(raw).hexdigest(),
        _system=system,
        _user=user,
        **fields,
    )


def load_agents(directory: Path) -> dict[str, AgentSpec]:
    """The classifier, summarizer and judge specs from `directory` (each must exist and have its schema)."""
    specs: dict[str, AgentSpec] = {}
    for name in AGENT_NAMES:
        path = directory / f"{name}.md"
        if not path.is_file():
            raise ConfigError(f"{path}: file not found (set general.agents_dir or DIGESTBOT_AGENTS_DIR)")
        spec = load_agent(path)
        if spec.output != EXPECTED_OUTPUT[name]:
            raise _error(path, "front matter", f"output must be {EXPECTED_OUTPUT[name]!r} for the {name}")
        specs[name] = spec
    return specs
