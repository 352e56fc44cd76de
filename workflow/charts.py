"""Server-side SVG charts of the perfil institucional: no JavaScript, no chart library.

Each function returns a standalone SVG document, served on its own URL as
``image/svg+xml`` and shown with ``<img>``: presentation attributes (``fill=``) are fine there,
while the pages themselves keep a CSP without inline styles. Every chart carries a ``<title>``
and a ``<desc>`` and the page shows the same numbers in a table.
"""

from __future__ import annotations

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
FONT = "system-ui, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif"

WIDTH = 640
LABEL_WIDTH = 250
PLOT_LEFT = LABEL_WIDTH + 10
PLOT_WIDTH = WIDTH - PLOT_LEFT - 40
ROW = 30
TOP = 34
MAX_LABEL_CHARS = 32


def decimal(value: float | None, digits: int = 1) -> str:
    """A number as Colombia writes it (decimal comma); a dash when there is none."""
    if value is None:
        return "—"
    return f"{value:.{digits}f}".replace(".", ",")


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[:MAX_LABEL_CHARS - 1] + "…"


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = 13,
          fill: str = INK, weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'font-weight="{weight}" fill="{fill}">{escape(content)}</text>')


def _document(title: str, description: str, height: int, body: list[str]) -> str:
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="titulo descripcion" '
        f'font-family="{escape(FONT)}">',
        f'<title id="titulo">{escape(title)}</title>',
        f'<desc id="descripcion">{escape(description)}</desc>',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        *body,
        "</svg>",
        "",
    ])


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
    height = TOP + ROW * max(len(bars), 1) + 46
    body = [_text(PLOT_LEFT - 10, 20, "Promedio (1 a 4)", anchor="end", size=12, fill=MUTED)]
    for level in range(maximum + 1):
        x = PLOT_LEFT + level * scale
        body.append(f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" '
                    f'y2="{TOP + ROW * len(bars)}" stroke="{GRID}" stroke-width="1"/>')
        body.append(_text(x, 20, str(level), anchor="middle", size=12, fill=MUTED))
    has_previous = False
    for index, bar in enumerate(bars):
        y = TOP + index * ROW
        summary = f"{bar.label}: {decimal(bar.value)}"
        if bar.previous is not None:
            summary += f" (Ruta anterior: {decimal(bar.previous)})"
        body.append(f"<g><title>{escape(summary)}</title>")
        body.append(_text(PLOT_LEFT - 10, y + 19, _short(bar.label), anchor="end"))
        if bar.value is None:
            body.append(_text(PLOT_LEFT + 6, y + 19, "sin valorar", fill=MUTED))
        else:
            width = max(bar.value, 0) * scale
            body.append(f'<rect x="{PLOT_LEFT}" y="{y + 6}" width="{width:.1f}" height="18" '
                        f'fill="{BAR}"/>')
            body.append(_text(PLOT_LEFT + width + 6, y + 20, decimal(bar.value), size=12,
                              weight="bold"))
        if bar.previous is not None:
            has_previous = True
            x = PLOT_LEFT + bar.previous * scale
            body.append(f'<rect x="{x - 2:.1f}" y="{y + 2}" width="4" height="26" '
                        f'fill="{PREVIOUS}"/>')
        body.append("</g>")
    legend_y = TOP + ROW * len(bars) + 22
    body.append(f'<rect x="{PLOT_LEFT}" y="{legend_y - 11}" width="14" height="14" '
                f'fill="{BAR}"/>')
    body.append(_text(PLOT_LEFT + 20, legend_y, "Esta Ruta", size=12))
    if has_previous:
        body.append(f'<rect x="{PLOT_LEFT + 120}" y="{legend_y - 13}" width="4" height="18" '
                    f'fill="{PREVIOUS}"/>')
        body.append(_text(PLOT_LEFT + 130, legend_y, "Ruta anterior", size=12))
    if not description:
        description = "; ".join(
            f"{bar.label}: {decimal(bar.value)}"
            + (f" (antes {decimal(bar.previous)})" if bar.previous is not None else "")
            for bar in bars) + "."
    return _document(title, description, height, body)


def levels_chart(title: str, rows: Sequence[tuple[str, Mapping[int, int], int]],
                 level_names: Mapping[int, str], *, description: str = "") -> str:
    """Stacked bars: how many componentes of each row sit at each level (Anexo 2 style).

    ``rows`` are (label, {level: count}, unrated count).
    """
    totals = [sum(counts.values()) + unrated for _, counts, unrated in rows]
    most = max(totals, default=0) or 1
    scale = PLOT_WIDTH / most
    height = TOP + ROW * max(len(rows), 1) + 56
    body = [_text(PLOT_LEFT - 10, 20, "Componentes por nivel", anchor="end", size=12,
                  fill=MUTED)]
    for index, (label, counts, unrated) in enumerate(rows):
        y = TOP + index * ROW
        parts = [f"{level_names.get(level, level)}: {counts.get(level, 0)}"
                 for level in sorted(LEVEL_COLOURS)]
        if unrated:
            parts.append(f"sin valorar: {unrated}")
        body.append(f"<g><title>{escape(label + ' — ' + ', '.join(parts))}</title>")
        body.append(_text(PLOT_LEFT - 10, y + 19, _short(label), anchor="end"))
        x = float(PLOT_LEFT)
        segments = [(counts.get(level, 0), LEVEL_COLOURS[level]) for level in sorted(
            LEVEL_COLOURS)] + [(unrated, UNRATED)]
        for count, colour in segments:
            if not count:
                continue
            width = count * scale
            body.append(f'<rect x="{x:.1f}" y="{y + 6}" width="{width:.1f}" height="18" '
                        f'fill="{colour}" stroke="#ffffff" stroke-width="1"/>')
            if width >= 18:
                text_fill = INK if colour == UNRATED else "#ffffff"
                body.append(_text(x + width / 2, y + 20, str(count), anchor="middle", size=12,
                                  fill=text_fill, weight="bold"))
            x += width
        body.append("</g>")
    legend_y = TOP + ROW * len(rows) + 22
    legend = [(f"{level} {level_names.get(level, '')}".strip(), colour)
              for level, colour in sorted(LEVEL_COLOURS.items())] + [("Sin valorar", UNRATED)]
    x = 10.0
    line = 0
    for name, colour in legend:
        width = 26 + len(name) * 7.2
        if x + width > WIDTH - 10:
            x, line = 10.0, line + 1
        y = legend_y + line * 20
        body.append(f'<rect x="{x:.1f}" y="{y - 11}" width="14" height="14" fill="{colour}"/>')
        body.append(_text(x + 20, y, name, size=12))
        x += width
    height += line * 20
    if not description:
        description = "; ".join(
            f"{label}: " + ", ".join(f"nivel {level}: {counts.get(level, 0)}"
                                     for level in sorted(LEVEL_COLOURS))
            + (f", sin valorar: {unrated}" if unrated else "")
            for label, counts, unrated in rows) + "."
    return _document(title, description, height, body)
