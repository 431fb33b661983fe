"""Fetchers for arXiv, Qiita and Zenn behind one `Source` protocol, and `build_sources` to make them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from digestbot.domain import SourceName
from digestbot.sources.base import FetchLog, Source, SourceError

if TYPE_CHECKING:
    from digestbot.settings import Settings
    from digestbot.sources.http import HttpFetcher, ValidatorCache

__all__ = ["FetchLog", "Source", "SourceError", "build_sources", "enabled_source_names", "parse_source_names"]


def enabled_source_names(settings: Settings) -> list[SourceName]:
    """The sources switched on in the config, in the fixed order arxiv, qiita, zenn."""
    configs = settings.app.sources
    flags = {
        SourceName.ARXIV: configs.arxiv.enabled,
        SourceName.QIITA: configs.qiita.enabled,
        SourceName.ZENN: configs.zenn.enabled,
    }
    return [name for name in SourceName if flags[name]]


def parse_source_names(spec: str) -> list[SourceName]:
    """`arxiv,qiita` -> [ARXIV, QIITA]. Raises ValueError naming the valid names for anything else."""
    names: list[SourceName] = []
    for part in (p.strip().lower() for p in spec.split(",")):
        if not part:
            continue
        try:
            name = SourceName(part)
        except ValueError:
            valid = ", ".join(n.value for n in SourceName)
            raise ValueError(f"unknown source {part!r} (valid: {valid})") from None
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError(f"no source named in {spec!r} (valid: {', '.join(n.value for n in SourceName)})")
    return names


def build_sources(
    settings: Settings,
    *,
    names: Iterable[SourceName] | None = None,
    validator_cache: ValidatorCache | None = None,
    http: HttpFetcher | None = None,
) -> list[Source]:
    """The sources to fetch: `names` if given (even if disabled in the config), else the enabled ones.

    Qiita and Zenn share one `HttpFetcher`; pass `http` to own its lifetime (close it after the
    fetch), otherwise one is created with `validator_cache` for conditional GETs.
    """
    wanted = list(names) if names is not None else enabled_source_names(settings)
    sources: list[Source] = []
    for name in wanted:
        if name is SourceName.ARXIV:
            from digestbot.sources.arxiv import ArxivSource

            sources.append(ArxivSource(settings.app.sources.arxiv))
            continue
        if http is None:
            from digestbot.sources.http import HttpFetcher

            http = HttpFetcher(settings.app.http, cache=validator_cache)
        if name is SourceName.QIITA:
            from digestbot.sources.qiita import QiitaSource

            token = settings.secrets.qiita_token
            sources.append(
                QiitaSource(
                    settings.app.sources.qiita, http, token=token.get_secret_value() if token else None
                )
            )
        elif name is SourceName.ZENN:
            from digestbot.sources.zenn import ZennSource

            sources.append(ZennSource(settings.app.sources.zenn, http))
    return sources
