"""The weekly chart: kept items per category over the last weeks, as a PNG readable on a phone.

One small bar chart per category (two columns), this week's bar highlighted, a week without a
digest drawn as a hatched full-height column (never confused with a short bar). matplotlib's object
API on the Agg canvas (no pyplot). The font is set through `rc_context`, which changes matplotlib's
process-wide rcParams, so drawing holds one lock: concurrent /digest runs draw one chart at a time.
Japanese labels need a font that has them: the first installed of Noto Sans CJK JP (Debian's
fonts-noto-cjk), IPAexGothic and the other usual Japanese fonts, else the IPAex Gothic that the
`japanize-matplotlib` package ships.
"""

from __future__ import annotations

import importlib.util
import io
import math
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine

from digestbot.domain import Digest
from digestbot.settings import Category
from digestbot.trends import WeeklyCounts, weekly_counts, weekly_history

JAPANESE_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "IPAexGothic",
    "IPAGothic",
    "Hiragino Sans",
    "Hiragino Kaku Gothic ProN",
    "Yu Gothic",
    "Meiryo",
    "TakaoGothic",
)
WIDTH_PX = 1080  # a phone screen's width at 1:1 when Slack shows the image full-screen
DPI = 150
PANEL_HEIGHT_IN = 2.1
HIGHLIGHT = "#1264a3"
BAR = "#9bbbd4"
GAP = "#9e9e9e"


_DRAWING = threading.Lock()  # rcParams (and the font registry) are process-global state


class ChartError(Exception):
    """The chart cannot be drawn (no matplotlib or no Japanese font); the message says what to install."""


@lru_cache(maxsize=1)
def japanese_font() -> str:
    """The family name of an installed font with Japanese glyphs (registered with matplotlib)."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    for name in JAPANESE_FONTS:
        if name in installed:
            return name
    spec = importlib.util.find_spec("japanize_matplotlib")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "fonts" / "ipaexg.ttf"
        if bundled.is_file():
            font_manager.fontManager.addfont(str(bundled))
            return font_manager.FontProperties(fname=str(bundled)).get_name()
    raise ChartError(
        "no Japanese font for the chart: install fonts-noto-cjk (apt) or japanize-matplotlib (pip)"
    )


def render_chart(table: WeeklyCounts, *, tz: str = "Asia/Tokyo", title: str = "") -> bytes:
    """PNG bytes: one panel per category, weeks oldest to newest; raises ChartError."""
    try:
        from matplotlib import rc_context
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ChartError("the chart needs matplotlib: pip install matplotlib") from None
    labels = table.labels(tz)
    categories = table.categories or (("", "（データなし）"),)
    columns = 2 if len(categories) > 1 else 1
    rows = math.ceil(len(categories) / columns)
    width_in = WIDTH_PX / DPI
    with _DRAWING, rc_context({"font.family": [japanese_font(), "DejaVu Sans"], "font.size": 11}):
        figure = Figure(figsize=(width_in, 0.9 + rows * PANEL_HEIGHT_IN), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        # no bold anywhere: IPAex Gothic has no bold face, and asking for one logs a findfont warning
        figure.suptitle(title or f"カテゴリ別の採用件数（直近{len(labels)}週）", fontsize=14)
        axes = figure.subplots(rows, columns, squeeze=False, sharex=True)
        top = max([n for counts in table.counts.values() for n in counts if n is not None] or [1])
        for index, (category, name) in enumerate(categories):
            ax = axes[index // columns][index % columns]
            counts = table.counts.get(category, (None,) * len(labels))
            _panel(ax, name, labels, counts, top)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))
        for index in range(len(categories), rows * columns):
            axes[index // columns][index % columns].set_visible(False)
        if any(n is None for counts in table.counts.values() for n in counts):
            figure.supxlabel("斜線の週 = その週のダイジェストなし（0件とは別）", fontsize=9, color=GAP)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _panel(ax: object, name: str, labels: list[str], counts: tuple[int | None, ...], top: int) -> None:
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    positions = range(len(labels))
    heights = [n or 0 for n in counts]
    colors = [HIGHLIGHT if i == len(labels) - 1 else BAR for i in positions]
    ax.bar(positions, heights, color=colors, width=0.75)
    ceiling = top * 1.15 + 0.5
    for position, count in zip(positions, counts, strict=True):
        if count is None:  # a hatched full-height column: unlike any bar, however short
            ax.bar(position, ceiling, width=0.75, color="none", edgecolor=GAP, hatch="///", linewidth=0)
            ax.text(
                position, ceiling * 0.5, "なし", ha="center", va="center", color=GAP, fontsize=8, rotation=90
            )
    latest = counts[-1] if counts else None
    title = f"{name}　今週 {latest if latest is not None else '－'}件"
    ax.set_title(title, fontsize=title_size(title), loc="left")
    ax.set_ylim(0, ceiling)
    step = 1 if len(labels) <= 6 else 2 if len(labels) <= 12 else 3
    shown = [i for i in positions if (len(labels) - 1 - i) % step == 0]
    ax.set_xticks(shown, [labels[i] for i in shown], fontsize=10)
    ax.tick_params(axis="x", labelbottom=True)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def title_size(text: str, *, base: float = 12, fits_ems: float = 17.5) -> float:
    """The panel title's font size: `base`, smaller when the text is wider than a panel (in ems:
    full-width characters count 1, others about 0.55), so the longest category name is not cut."""
    ems = sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.55 for ch in text)
    return base if ems <= fits_ems else max(7.0, base * fits_ems / ems)


def save_chart(png: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


def digest_chart(
    digest: Digest, engine: Engine, categories: tuple[Category, ...], *, weeks: int, tz: str = "Asia/Tokyo"
) -> bytes:
    """The chart for a weekly digest: its own counts plus the archive's `weeks - 1` weeks before it."""
    history = weekly_history(engine, digest.window, weeks - 1, current=digest)
    return render_chart(weekly_counts(history, digest.window, categories), tz=tz)
