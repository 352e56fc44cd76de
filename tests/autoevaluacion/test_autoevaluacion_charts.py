"""The perfil's SVG charts, drawn on the server: well-formed, accessible, no script, and
nothing told by colour alone."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from workflow.charts import (
    CHARS_PER_LINE,
    LEVEL_COLOURS,
    PLOT_WIDTH,
    UNRATED,
    WIDTH,
    Bar,
    averages_chart,
    decimal,
    label_lines,
    level_fill,
    levels_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
NAMES = {1: "Existencia", 2: "Pertinencia", 3: "Apropiación", 4: "Mejoramiento continuo"}


def parse(markup: str) -> ET.Element:
    # Our own output, parsed to check its structure: not untrusted input.
    return ET.fromstring(markup.encode("utf-8"))  # noqa: S314


def texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG}text")]


def test_decimal_uses_a_comma_and_a_dash_for_nothing() -> None:
    assert [decimal(2.75), decimal(3), decimal(None), decimal(2.0, 2)] == [
        "2,8", "3,0", "—", "2,00"]


def test_averages_chart_draws_one_bar_per_row_scaled_to_four() -> None:
    root = parse(averages_chart("Promedio por área", [
        Bar("Gestión directiva", 2.0, previous=1.5), Bar("Gestión académica", 4.0),
        Bar("Gestión de la comunidad", None)]))

    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Promedio por área"
    assert root.find(f"{SVG}desc").text == (
        "Gestión directiva: 2,0 (antes 1,5); Gestión académica: 4,0; Gestión de la "
        "comunidad: —.")
    bars = [rect for rect in root.iterfind(f"{SVG}g/{SVG}rect")
            if rect.get("fill") == "#0b4f8a" and rect.get("height") == "18"]
    # 0..4 spans the plot: a 2.0 is half the width of a 4.0.
    assert [float(rect.get("width")) for rect in bars] == [PLOT_WIDTH / 2, PLOT_WIDTH]
    assert "sin valorar" in texts(root)
    assert {"Esta Ruta", "Ruta anterior"} <= set(texts(root))
    tooltips = [group.find(f"{SVG}title").text for group in root.iter(f"{SVG}g")]
    assert tooltips == ["Gestión directiva: 2,0 (Ruta anterior: 1,5)", "Gestión académica: 4,0",
                        "Gestión de la comunidad: —"]


def test_averages_chart_without_previous_has_no_previous_legend() -> None:
    root = parse(averages_chart("Promedio", [Bar("Gestión directiva", 3.0)]))
    assert "Ruta anterior" not in texts(root)


def test_long_labels_wrap_onto_two_lines_and_stay_whole_in_the_tooltip() -> None:
    label = "ADM.3 Administración de servicios complementarios"
    root = parse(averages_chart("Procesos", [Bar(label, 2.5)]))
    assert {"ADM.3 Administración de servicios", "complementarios"} <= set(texts(root))
    assert root.find(f"{SVG}g/{SVG}title").text == f"{label}: 2,5"


def test_labels_longer_than_two_lines_end_in_an_ellipsis() -> None:
    label = ("DIR.1 Direccionamiento estratégico y horizonte institucional con su misión, "
             "visión, principios y metas")
    lines = label_lines(label)
    assert lines == ["DIR.1 Direccionamiento estratégico y",
                     "horizonte institucional con su misión,…"]
    assert all(len(line) <= CHARS_PER_LINE for line in lines)


def test_chart_text_is_large_enough_when_shrunk_to_a_phone() -> None:
    # At 360 px a chart is shown about 300 px wide: every text must still be 12 px or more.
    root = parse(levels_chart("Niveles", [("Gestión directiva", {1: 3, 2: 1}, 0)], NAMES))
    sizes = {float(text.get("font-size")) for text in root.iter(f"{SVG}text")}
    assert float(root.get("width")) == WIDTH
    assert min(sizes) * 300 / WIDTH >= 12


def test_levels_chart_stacks_counts_per_level_with_a_legend() -> None:
    root = parse(levels_chart("Componentes por nivel", [
        ("Gestión directiva", {1: 1, 2: 2, 3: 3, 4: 0}, 2),
        ("Gestión académica", {1: 0, 2: 0, 3: 4, 4: 4}, 0),
    ], NAMES))

    segments = [(rect.get("fill"), float(rect.get("width")))
                for rect in root.iterfind(f"{SVG}g/{SVG}rect") if rect.get("height") == "18"]
    # The longest row (8 componentes) fills the plot.
    unit = PLOT_WIDTH / 8
    assert segments == [
        ("url(#nivel-1)", round(unit, 1)), ("url(#nivel-2)", round(2 * unit, 1)),
        ("url(#nivel-3)", round(3 * unit, 1)), ("#b8c0cc", round(2 * unit, 1)),
        ("url(#nivel-3)", round(4 * unit, 1)), ("url(#nivel-4)", round(4 * unit, 1))]
    assert {"1 Existencia", "2 Pertinencia", "3 Apropiación", "4 Mejoramiento continuo",
            "Sin valorar"} <= set(texts(root))
    assert root.find(f"{SVG}desc").text == (
        "Gestión directiva: nivel 1: 1, nivel 2: 2, nivel 3: 3, nivel 4: 0, sin valorar: 2; "
        "Gestión académica: nivel 1: 0, nivel 2: 0, nivel 3: 4, nivel 4: 4.")


def test_charts_escape_text_and_carry_no_script_or_style() -> None:
    markup = averages_chart("A <b> & \"c\"", [Bar("<script>alert(1)</script>", 1.0)])
    root = parse(markup)
    assert root.find(f"{SVG}title").text == 'A <b> & "c"'
    assert "<script" not in markup
    assert "style=" not in markup
    assert root.find(f".//{SVG}script") is None


def pattern_fills(root: ET.Element) -> dict[str, ET.Element]:
    return {f"url(#{pattern.get('id')})": pattern
            for pattern in root.iterfind(f"{SVG}defs/{SVG}pattern")}


def test_each_level_is_filled_with_its_own_pattern_over_its_colour() -> None:
    root = parse(levels_chart("Niveles", [("Gestión directiva", {1: 1, 2: 1, 3: 1, 4: 1}, 1)],
                              NAMES))
    patterns = pattern_fills(root)
    bars = [rect.get("fill") for rect in root.iterfind(f"{SVG}g/{SVG}rect")
            if rect.get("height") == "18"]

    # Four levels, four different patterns, each the fill of its level's bar; unrated is plain.
    assert bars == [level_fill(level) for level in (1, 2, 3, 4)] + [UNRATED]
    assert sorted(patterns) == sorted(bars[:4])
    # Each pattern is the level's colour under a light texture, and no two textures match:
    # in greyscale (where the colours look alike) the textures still tell the levels apart.
    textures = set()
    for level in (1, 2, 3, 4):
        pattern = patterns[level_fill(level)]
        base, *texture = list(pattern)
        assert (base.tag, base.get("fill"), base.get("width")) == (
            f"{SVG}rect", LEVEL_COLOURS[level], pattern.get("width"))
        assert texture and all(shape.get("fill") == "#ffffff" for shape in texture)
        textures.add((pattern.get("patternTransform"),
                      tuple(sorted(ET.tostring(shape) for shape in texture))))
    assert len(textures) == 4


def test_legend_keys_carry_the_same_pattern_and_name_the_level() -> None:
    root = parse(levels_chart("Niveles", [("Gestión directiva", {2: 1}, 0)], NAMES))
    # The legend follows the bars (outside any row's group): a key then its name.
    elements = [element for element in root if element.tag in (f"{SVG}rect", f"{SVG}text")]
    legend = elements[elements.index(next(e for e in elements if e.text == "1 Existencia")) - 1:]
    pairs = [(key.get("fill"), name.text)
             for key, name in zip(legend[::2], legend[1::2], strict=True)]
    assert pairs == [("url(#nivel-1)", "1 Existencia"), ("url(#nivel-2)", "2 Pertinencia"),
                     ("url(#nivel-3)", "3 Apropiación"),
                     ("url(#nivel-4)", "4 Mejoramiento continuo"), (UNRATED, "Sin valorar")]
    # Big enough for the texture to show: at least two of its 8-unit tiles across.
    assert all(float(key.get("width")) >= 16 for key in legend[::2])


def test_counts_sit_on_a_plain_chip_of_their_level_colour() -> None:
    # White text straight on a texture would cross its light lines: each count gets a chip.
    root = parse(levels_chart("Niveles", [("Gestión directiva", {1: 4, 4: 4}, 0)], NAMES))
    group = root.find(f"{SVG}g")
    chips = [rect.get("fill") for rect in group.iterfind(f"{SVG}rect")
             if rect.get("fill", "").startswith("#")]
    counts = [(text.text, text.get("fill")) for text in group.iterfind(f"{SVG}text")]
    assert chips == [LEVEL_COLOURS[1], LEVEL_COLOURS[4]]
    assert counts[-2:] == [("4", "#ffffff"), ("4", "#ffffff")]


def test_averages_chart_tells_this_ruta_from_the_previous_by_shape() -> None:
    root = parse(averages_chart("Promedio", [Bar("Gestión directiva", 2.0, previous=3.0)]))
    bar, tick = [rect for rect in root.iterfind(f"{SVG}g/{SVG}rect")]
    # A bar as tall as a row against a 4-unit-wide tick that stands out above and below it.
    assert (float(bar.get("height")), float(tick.get("width"))) == (18, 4)
    assert float(tick.get("height")) > float(bar.get("height"))
