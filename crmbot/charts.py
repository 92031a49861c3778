"""Charts as PNG: a `Chart` (panels of labelled bars, every word already translated) drawn with
matplotlib's Agg backend, sized to be read on a phone.

Drawing uses the object API (a `Figure` of its own, never pyplot's global state), so it may run
in a worker thread off the event loop. Words in Chinese need a CJK font; the first one installed
of `CJK_FONTS` is used as a fallback behind DejaVu Sans (Debian: fonts-wqy-microhei)."""

from __future__ import annotations

import contextlib
import io
import logging
import unicodedata
from functools import cache

from crmbot.messages import Bars, Chart

CJK_FONTS = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans SC", "Droid Sans Fallback")
WIDTH_INCHES, DPI = 6.0, 160  # about 960 px wide: a phone shows it full width, text still legible
ROW_INCHES, PANEL_INCHES = 0.42, 0.9  # height per bar, and per panel for its title and axis
COLOURS = ("#2f6fb0", "#e3872d", "#4b9e5f", "#b8483f", "#7d5ba6", "#8c6d31")
FONT_SIZE = 11
TITLE_COLUMNS = 46  # the title's line, in character widths (a Chinese character is two): longer ones wrap
# languages whose currency symbols a chart may show: a symbol no installed font draws ("₼") is written as its code
SYMBOL_LOCALES = ("en", "cs", "sl", "zh_Hans", "cy", "az")


@cache
def _fonts() -> tuple[str, ...]:
    """DejaVu Sans (shipped with matplotlib), then a CJK font when one is installed."""
    from matplotlib import font_manager

    # it logs each family of the fallback chain it did not find: deliberate here, so noise
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    manager = font_manager.fontManager
    if not any(font.name in CJK_FONTS for font in manager.ttflist):
        # matplotlib keeps its font list in a cache made on first use: a font installed since
        # then (fonts-wqy-microhei after a first chart) is added from the system's font folders
        known = {font.fname for font in manager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                with contextlib.suppress(Exception):  # a font file it cannot read is no CJK font
                    manager.addfont(path)
    installed = {font.name for font in manager.ttflist}
    return ("DejaVu Sans", *(name for name in CJK_FONTS if name in installed))


@cache
def _covered() -> frozenset[int]:
    """The code points the fonts of `_fonts()` can draw."""
    from matplotlib import font_manager, ft2font

    points: set[int] = set()
    for family in _fonts():
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
            points |= set(ft2font.FT2Font(path).get_charmap())
        except (ValueError, OSError, RuntimeError):
            continue
    return frozenset(points)


@cache
def _currency_code(symbol: str) -> str | None:
    """The ISO code of a currency written with this symbol in one of our languages ("₼" -> "AZN")."""
    from babel.numbers import get_currency_symbol, list_currencies

    return next((code for locale in SYMBOL_LOCALES for code in sorted(list_currencies())
                 if get_currency_symbol(code, locale) == symbol), None)


def drawable(text: str) -> str:
    """`text` as the installed fonts can draw it: a currency symbol none of them has becomes the
    currency's code ("9K ₼" -> "9K AZN"), never an empty box. Other characters are left alone."""
    covered = _covered()
    if not covered:
        return text
    out = []
    for ch in text:
        code = _currency_code(ch) if ord(ch) not in covered and unicodedata.category(ch) == "Sc" else None
        out.append(code or ch)
    return "".join(out)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrapped(title: str, columns: int = TITLE_COLUMNS) -> str:
    """A title broken between words into lines that fit the picture's width on a phone."""
    lines: list[str] = []
    for word in title.split(" "):
        if lines and _width(lines[-1]) + 1 + _width(word) <= columns:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


@cache
def _words_as_written() -> None:
    """Labels are people's words: matplotlib would read "$…$" in them as mathematics ("$12K ·
    CA$3K", a name "$_$"). Off once for the process, which draws only crmbot's charts."""
    from matplotlib import rcParams

    rcParams["text.parse_math"] = False


def draw(chart: Chart) -> bytes:
    """The chart as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    _words_as_written()
    panels = [panel for panel in chart.panels if panel.rows]
    heights = [PANEL_INCHES + ROW_INCHES * len(panel.rows) + (0.35 if panel.legend else 0) for panel in panels]
    title = wrapped(drawable(chart.title))
    figure = Figure(figsize=(WIDTH_INCHES, sum(heights) + 0.35 + 0.25 * (title.count("\n") + 1)), dpi=DPI, layout="constrained")
    figure.suptitle(title, fontsize=FONT_SIZE + 3, fontweight="bold", family=_fonts())
    axes = figure.subplots(len(panels), 1, squeeze=False, height_ratios=heights)[:, 0] if panels else []
    for ax, panel in zip(axes, panels):
        _bars(ax, panel)
    canvas = FigureCanvasAgg(figure)
    renderer = canvas.get_renderer()
    if not all(_notes_fit(ax, renderer, figure.bbox.x1) for ax in axes):
        figure.draw_without_rendering()  # lays the figure out, so where each note ends is known
        for ax in axes:
            _room_for_notes(ax, renderer, figure.bbox.x1)
    out = io.BytesIO()
    canvas.print_png(out, metadata={"Title": chart.title, "Description": chart.description})
    return out.getvalue()


def _notes_fit(ax, renderer, right_edge: float) -> bool:
    """Whether the notes surely end inside the picture, judged before the (costly) layout: the
    axis starts after its longest label and a margin, and the longest bar ends at 1/1.6 of it."""
    def wide(text) -> float:
        return renderer.get_text_width_height_descent(text.get_text(), text.get_fontproperties(), ismath=False)[0]

    labels = max((wide(label) for label in ax.get_yticklabels()), default=0.0)
    left = labels + 40 * renderer.dpi / 72  # the label's pad, ticks and the figure's margin, generously
    width = right_edge - left - 8
    limit = ax.get_xlim()[1]
    return all(left + note.xy[0] / limit * width + 8 * renderer.dpi / 72 + wide(note) <= right_edge - 8 for note in ax.texts)


def _room_for_notes(ax, renderer, right_edge: float) -> None:
    """Widen the value axis until every note at a bar's end ends inside the picture: a note with
    several currencies ("3 · 500 tis. CN¥ · 72 tis. € · 10 tis. US$") is longer than the room
    a fixed margin leaves."""
    left, width = ax.bbox.x0, ax.bbox.width
    room = right_edge - left - 8  # pixels from the axis' start to just inside the picture's edge
    limit = ax.get_xlim()[1]
    needed = limit
    for note in ax.texts:
        start, box = note.xy[0], note.get_window_extent(renderer)
        offset = box.x0 - (left + start / limit * width)  # the few points between the bar's end and its note
        if start > 0 and room - offset - box.width > 0 and box.x1 - left > room:
            needed = max(needed, start * width / (room - offset - box.width))
    if needed > limit:
        ax.set_xlim(0, needed)


def _bars(ax, panel: Bars) -> None:
    fonts = _fonts()
    labels = [drawable(label) for label, _, _ in panel.rows]
    positions = range(len(panel.rows))
    left = [0] * len(panel.rows)
    segments = max(len(lengths) for _, lengths, _ in panel.rows)
    for segment in range(segments):
        widths = [lengths[segment] if segment < len(lengths) else 0 for _, lengths, _ in panel.rows]
        name = drawable(panel.legend[segment]) if segment < len(panel.legend) else None
        ax.barh(positions, widths, left=left, color=COLOURS[segment % len(COLOURS)], height=0.62, label=name)
        left = [a + b for a, b in zip(left, widths)]
    longest = max(left) or 1
    for y, (total, (_, _, note)) in enumerate(zip(left, panel.rows)):
        if note:
            # out of the layout: the value axis makes room for it (`_room_for_notes`), the layout need not
            ax.annotate(drawable(note), (total, y), xytext=(4, 0), textcoords="offset points", va="center",
                        fontsize=FONT_SIZE - 1, family=fonts, in_layout=False)
    ax.set_xlim(0, longest * 1.6)  # room for the notes at the bars' ends
    ax.set_yticks(list(positions), labels, fontsize=FONT_SIZE, family=fonts)
    ax.invert_yaxis()  # first row on top, as in the text
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.tick_params(axis="x", labelsize=FONT_SIZE - 2)
    ax.set_title(drawable(panel.title), loc="left", fontsize=FONT_SIZE + 1, fontweight="bold", family=fonts)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if panel.legend:
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12), frameon=False, ncols=min(len(panel.legend), 4),
                  prop={"family": fonts, "size": FONT_SIZE - 2})  # under the axis: never over a bar
