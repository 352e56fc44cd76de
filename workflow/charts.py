"""Server-side SVG charts of the perfil institucional: no JavaScript, no chart library.

Each function returns a standalone SVG document, served on its own URL as
``image/svg+xml`` and shown with ``<img>``: presentation attributes (``fill=``) are fine there,
while the pages themselves keep a CSP without inline styles. Every chart carries a ``<title>``
and a ``<desc>`` and the page shows the same numbers in a table.

The charts are drawn for a phone. The page shrinks an image to its container (``max-width:
100%``), so a label is seen at ``FONT_SIZE × shown width / WIDTH``: at 360 px a chart is shown
about 300 px wide, and 18 × 300 / 420 ≈ 12.9 px, above the 12 px floor. Hence a narrow
drawing (``WIDTH``) and large type, with each row's label on its own lines above its bar
instead of in a column beside it. The SVG keeps its explicit ``width`` and ``height`` so a
wider screen shows it at its natural size.

Nothing is told by colour alone (WCAG 1.4.1): each level of the 1–4 scale fills its bars and
its legend key with its own pattern (``LEVEL_TEXTURES``) over its colour, and the key names the
level by number and name; in the averages chart this Ruta is a bar and the previous one a thin
tick.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

INK = "#1d2530"
MUTED = "#4a5563"
GRID = "#cfd6df"
BAR = "#0b4f8a"
PREVIOUS = "#8a4b00"
# One colour per level, from "existencia" to "mejoramiento continuo"; the legend names them.
LEVEL_COLOURS = {1: "#a1192a", 2: "#8a4b00", 3: "#3d6e23", 4: "#0b4f8a"}
UNRATED = "#b8c0cc"
# Not by colour alone (WCAG 1.4.1): each level's bars and legend key are filled with its own
# texture over its colour, so the four stay apart in greyscale or to a colour-blind reader.
# Light lines on the dark colours: rising diagonals, dots, a diagonal grid, horizontal lines.
LEVEL_TEXTURES = {
    1: ('patternTransform="rotate(45)"',
        '<rect x="0" y="0" width="3" height="8" fill="#ffffff" fill-opacity="0.6"/>'),
    2: ("", '<circle cx="4" cy="4" r="1.8" fill="#ffffff" fill-opacity="0.75"/>'),
    3: ('patternTransform="rotate(45)"',
        '<rect x="0" y="0" width="2" height="8" fill="#ffffff" fill-opacity="0.6"/>'
        '<rect x="0" y="0" width="8" height="2" fill="#ffffff" fill-opacity="0.6"/>'),
    4: ("", '<rect x="0" y="0" width="8" height="2.5" fill="#ffffff" fill-opacity="0.6"/>'),
}


def level_pattern_id(level: int) -> str:
    """The id of ``level``'s fill pattern inside a chart's SVG."""
    return f"nivel-{level}"


def level_fill(level: int) -> str:
    """The ``fill`` of ``level``'s bars and legend key: its pattern."""
    return f"url(#{level_pattern_id(level)})"


def _level_patterns() -> str:
    """The ``<defs>`` of the four level patterns: the level's colour under its texture."""
    patterns = []
    for level, colour in sorted(LEVEL_COLOURS.items()):
        transform, texture = LEVEL_TEXTURES[level]
        patterns.append(
            f'<pattern id="{level_pattern_id(level)}" width="8" height="8" '
            f'patternUnits="userSpaceOnUse" {transform}>'.replace(" >", ">")
            + f'<rect x="0" y="0" width="8" height="8" fill="{colour}"/>{texture}</pattern>')
    return "<defs>" + "".join(patterns) + "</defs>"
FONT = "system-ui, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif"

WIDTH = 420
FONT_SIZE = 18  # every text of every chart: see the module's docstring
SIDE = 10
LINE = 22  # height of one line of text
BAR_HEIGHT = 18
ROW_GAP = 12  # below each bar, before the next row's label
PLOT_LEFT = SIDE
# Room on the right for the value written after the longest bar.
PLOT_WIDTH = WIDTH - 2 * SIDE - 50
# A label wraps onto at most this many lines; characters per line assume a sans-serif's
# average advance of about 0.55 em.
LABEL_LINES = 2
CHARS_PER_LINE = int((WIDTH - 2 * SIDE) / (FONT_SIZE * 0.55))


def decimal(value: float | None, digits: int = 1) -> str:
    """A number as Colombia writes it (decimal comma); a dash when there is none."""
    if value is None:
        return "—"
    return f"{value:.{digits}f}".replace(".", ",")


def label_lines(label: str) -> list[str]:
    """The label broken into lines that fit the chart's width; an ellipsis ends what does
    not fit (the row's tooltip and the page's table keep it whole)."""
    lines = textwrap.wrap(label, CHARS_PER_LINE, break_long_words=True) or [""]
    if len(lines) > LABEL_LINES:
        last = " ".join(lines[LABEL_LINES - 1:])
        lines = lines[:LABEL_LINES - 1] + [last[:CHARS_PER_LINE - 1].rstrip() + "…"]
    return lines


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = FONT_SIZE,
          fill: str = INK, weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'font-weight="{weight}" fill="{fill}">{escape(content)}</text>')


def _document(title: str, description: str, height: int, body: list[str],
              defs: str = "") -> str:
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="titulo descripcion" '
        f'font-family="{escape(FONT)}">',
        f'<title id="titulo">{escape(title)}</title>',
        f'<desc id="descripcion">{escape(description)}</desc>',
        *([defs] if defs else []),
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        *body,
        "</svg>",
        "",
    ])


def _row_label(body: list[str], y: float, label: str) -> float:
    """Write a row's label above its bar; returns the y where the bar starts."""
    for line in label_lines(label):
        y += LINE
        body.append(_text(SIDE, y - 5, line))
    return y + 4


def _legend(body: list[str], y: float, entries: Sequence[tuple[str, str, bool]]) -> float:
    """Keys (name, fill, thin tick?) flowing onto as many lines as they need; returns the y
    below the last line. A key is as big as a line of text allows, so a pattern shows."""
    x = float(SIDE)
    y += LINE
    for name, fill, tick in entries:
        width = 30 + len(name) * FONT_SIZE * 0.56
        if x > SIDE and x + width > WIDTH - SIDE:
            x, y = float(SIDE), y + LINE
        if tick:
            body.append(f'<rect x="{x + 7:.1f}" y="{y - 15}" width="4" height="20" '
                        f'fill="{fill}"/>')
        else:
            body.append(f'<rect x="{x:.1f}" y="{y - 16}" width="20" height="18" '
                        f'fill="{fill}" stroke="{INK}" stroke-width="0.5"/>')
        body.append(_text(x + 25, y, name))
        x += width + 10
    return y


@dataclass(frozen=True)
class Bar:
    """One row of the averages chart: this Ruta's average and, if any, the previous one's."""

    label: str
    value: float | None
    previous: float | None = None


def averages_chart(title: str, bars: Sequence[Bar], *, maximum: int = 4,
                   description: str = "") -> str:
    """Horizontal bars of averages on the 1–4 scale, with the previous Ruta as a tick."""
    scale = PLOT_WIDTH / maximum
    body = [_text(SIDE, LINE, "Promedio (1 a 4)", fill=MUTED)]
    y = float(LINE + 4)
    has_previous = False
    for bar in bars:
        summary = f"{bar.label}: {decimal(bar.value)}"
        if bar.previous is not None:
            summary += f" (Ruta anterior: {decimal(bar.previous)})"
        body.append(f"<g><title>{escape(summary)}</title>")
        y = _row_label(body, y, bar.label)
        # The scale's gridlines run behind the bar only, never across a label.
        for level in range(maximum + 1):
            x = PLOT_LEFT + level * scale
            body.append(f'<line x1="{x:.1f}" y1="{y - 2:.1f}" x2="{x:.1f}" '
                        f'y2="{y + BAR_HEIGHT + 2:.1f}" stroke="{GRID}" stroke-width="1"/>')
        if bar.value is None:
            body.append(_text(PLOT_LEFT + 6, y + 15, "sin valorar", fill=MUTED))
        else:
            width = max(bar.value, 0) * scale
            body.append(f'<rect x="{PLOT_LEFT}" y="{y:.1f}" width="{width:.1f}" '
                        f'height="{BAR_HEIGHT}" fill="{BAR}"/>')
            body.append(_text(PLOT_LEFT + width + 6, y + 15, decimal(bar.value),
                              weight="bold"))
        if bar.previous is not None:
            has_previous = True
            x = PLOT_LEFT + bar.previous * scale
            body.append(f'<rect x="{x - 2:.1f}" y="{y - 4:.1f}" width="4" '
                        f'height="{BAR_HEIGHT + 8}" fill="{PREVIOUS}"/>')
        body.append("</g>")
        y += BAR_HEIGHT + ROW_GAP
    # The scale under the last bar: 0 to maximum.
    y += LINE - 6
    for level in range(maximum + 1):
        body.append(_text(PLOT_LEFT + level * scale, y, str(level),
                          anchor="start" if level == 0 else "middle", fill=MUTED))
    legend = [("Esta Ruta", BAR, False)]
    if has_previous:
        legend.append(("Ruta anterior", PREVIOUS, True))
    y = _legend(body, y + 6, legend)
    if not description:
        description = "; ".join(
            f"{bar.label}: {decimal(bar.value)}"
            + (f" (antes {decimal(bar.previous)})" if bar.previous is not None else "")
            for bar in bars) + "."
    return _document(title, description, round(y + 12), body)


def levels_chart(title: str, rows: Sequence[tuple[str, Mapping[int, int], int]],
                 level_names: Mapping[int, str], *, description: str = "") -> str:
    """Stacked bars: how many componentes of each row sit at each level (Anexo 2 style).

    ``rows`` are (label, {level: count}, unrated count).
    """
    totals = [sum(counts.values()) + unrated for _, counts, unrated in rows]
    most = max(totals, default=0) or 1
    scale = PLOT_WIDTH / most
    body = [_text(SIDE, LINE, "Componentes por nivel", fill=MUTED)]
    y = float(LINE + 4)
    for label, counts, unrated in rows:
        parts = [f"{level_names.get(level, level)}: {counts.get(level, 0)}"
                 for level in sorted(LEVEL_COLOURS)]
        if unrated:
            parts.append(f"sin valorar: {unrated}")
        body.append(f"<g><title>{escape(label + ' — ' + ', '.join(parts))}</title>")
        y = _row_label(body, y, label)
        x = float(PLOT_LEFT)
        segments = [(counts.get(level, 0), level_fill(level), LEVEL_COLOURS[level])
                    for level in sorted(LEVEL_COLOURS)] + [(unrated, UNRATED, UNRATED)]
        for count, fill, colour in segments:
            if not count:
                continue
            width = count * scale
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
                        f'height="{BAR_HEIGHT}" fill="{fill}" stroke="#ffffff" '
                        f'stroke-width="1"/>')
            text_width = FONT_SIZE * 0.6 * len(str(count))
            if width >= text_width + 6:
                # The count sits on a plain chip of the level's colour: white on the texture
                # alone would lose contrast where it crosses the light lines.
                if colour != UNRATED:
                    body.append(f'<rect x="{x + (width - text_width) / 2 - 2:.1f}" '
                                f'y="{y + 1:.1f}" width="{text_width + 4:.1f}" '
                                f'height="{BAR_HEIGHT - 2}" fill="{colour}"/>')
                text_fill = INK if colour == UNRATED else "#ffffff"
                body.append(_text(x + width / 2, y + 15, str(count), anchor="middle",
                                  fill=text_fill, weight="bold"))
            x += width
        body.append("</g>")
        y += BAR_HEIGHT + ROW_GAP
    legend = [(f"{level} {level_names.get(level, '')}".strip(), level_fill(level), False)
              for level in sorted(LEVEL_COLOURS)] + [("Sin valorar", UNRATED, False)]
    y = _legend(body, y - 4, legend)
    if not description:
        description = "; ".join(
            f"{label}: " + ", ".join(f"nivel {level}: {counts.get(level, 0)}"
                                     for level in sorted(LEVEL_COLOURS))
            + (f", sin valorar: {unrated}" if unrated else "")
            for label, counts, unrated in rows) + "."
    return _document(title, description, round(y + 12), body, _level_patterns())


def funnel_chart(title: str, heading: str, rows: Sequence[tuple[str, int]],
                 description: str) -> str:
    """Horizontal bars centred like a funnel, one per row, with the count beside each."""
    most = max((count for _, count in rows), default=0) or 1
    scale = (PLOT_WIDTH - 20) / most
    centre = PLOT_LEFT + PLOT_WIDTH / 2 - 10
    body = [_text(SIDE, LINE, heading, fill=MUTED)]
    y = float(LINE + 4)
    for label, count in rows:
        body.append(f"<g><title>{escape(f'{label}: {count}')}</title>")
        y = _row_label(body, y, label)
        width = count * scale
        body.append(f'<rect x="{centre - width / 2:.1f}" y="{y:.1f}" width="{width:.1f}" '
                    f'height="{BAR_HEIGHT}" fill="{BAR}"/>')
        body.append(_text(centre + width / 2 + 6, y + 15, str(count), weight="bold"))
        body.append("</g>")
        y += BAR_HEIGHT + ROW_GAP
    return _document(title, description, round(y), body)
