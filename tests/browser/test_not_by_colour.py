"""Not by colour alone, and charts that scale (issue 18, item 3), in a real Chromium over the
demo Secretaría at 360 px.

Each chart is an SVG image: the test measures its text as Chromium draws it (the computed
font size and box of every <text> in the SVG document, times the image's drawn width over the
SVG's own width), checks that each level of the «niveles» charts is filled with a pattern of its
own (what tells them apart in greyscale), and that every chart keeps its text alternative and
a data table. The semáforo badges of seguimiento each carry their own shape beside the word.
Every page is checked with axe-core.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from workflow.seguimiento.models import FollowUpLine, LineStatus

from . import test_phone_and_print as phone
from .conftest import PHONE, Browsing
from .test_phone_and_print import RECTOR, REVIEWER, Demo, signed_in

pytestmark = pytest.mark.browser

# The demo Secretaría of the phone tests (seeded once for this module too) and its browsing.
demo = phone.demo
site = phone.site

MIN_TEXT_PX = 12

# Every <text> of one chart as Chromium lays it out in the SVG document (user units = CSS px
# at the SVG's own size), the SVG's width, and the fill of each level's bars and keys.
SVG_READING = """() => {
  const svg = document.documentElement;
  const texts = [...svg.querySelectorAll('text')].map(t => ({
    text: t.textContent,
    fontSize: parseFloat(getComputedStyle(t).fontSize),
    height: t.getBoundingClientRect().height,
  }));
  const levelFills = {};
  for (const rect of svg.querySelectorAll('rect')) {
    const found = /^url\\(#(nivel-\\d)\\)$/.exec(rect.getAttribute('fill') || '');
    if (found) (levelFills[found[1]] ||= []).push(rect.getAttribute('fill'));
  }
  const patterns = [...svg.querySelectorAll('pattern')].map(p => ({
    id: p.id, markup: p.innerHTML, transform: p.getAttribute('patternTransform'),
  }));
  return {width: svg.width.baseVal.value, viewBox: svg.getAttribute('viewBox'),
          texts, levelFills, patterns};
}"""


def read_charts(page: Page) -> list[dict[str, Any]]:
    """Each chart image of the page: its alt text, drawn width and the SVG as rendered."""
    charts = []
    images = page.locator("img.chart, .chart img")
    for index in range(images.count()):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        drawn = image.evaluate("img => ({src: img.src, alt: img.alt, complete: img.complete,"
                               " natural: img.naturalWidth,"
                               " box: img.getBoundingClientRect().toJSON()})")
        # The same SVG document opened by itself, signed in as the same person.
        svg_page = page.context.new_page()
        svg_page.goto(drawn["src"])
        drawn["svg"] = svg_page.evaluate(SVG_READING)
        svg_page.close()
        charts.append(drawn)
    return charts


def assert_charts_scale_with_large_text(page: Page, charts: list[dict[str, Any]]) -> None:
    width = PHONE["width"]
    assert charts, page.url
    for chart in charts:
        svg, box = chart["svg"], chart["box"]
        assert chart["complete"] and chart["natural"] > 0, chart["src"]
        # A text alternative that says what the chart shows.
        assert len(chart["alt"]) > 20, chart["src"]
        # Scales with the screen: drawn inside it, smaller than its own size, from a viewBox.
        assert svg["viewBox"] == f"0 0 {svg['width']:g} {svg['viewBox'].split()[-1]}"
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (chart["src"], box)
        scale = box["width"] / svg["width"]
        assert scale < 1, (chart["src"], scale)
        too_small = [(text["text"], round(text["fontSize"] * scale, 1))
                     for text in svg["texts"]
                     if text["fontSize"] * scale < MIN_TEXT_PX
                     or text["height"] * scale < MIN_TEXT_PX]
        assert svg["texts"] and not too_small, (chart["src"], too_small)


def assert_levels_told_apart_without_colour(chart: dict[str, Any]) -> None:
    svg = chart["svg"]
    patterns = {pattern["id"]: pattern for pattern in svg["patterns"]}
    # Four levels, each filled (bars and legend key) with its own pattern, present in the SVG.
    assert sorted(svg["levelFills"]) == ["nivel-1", "nivel-2", "nivel-3", "nivel-4"]
    assert sorted(patterns) == ["nivel-1", "nivel-2", "nivel-3", "nivel-4"]
    # Different textures, so greyscale keeps them apart: no two patterns draw the same.
    textures = {(pattern["transform"], pattern["markup"].split("/>", 1)[1])
                for pattern in patterns.values()}
    assert len(textures) == 4
    names = [text["text"] for text in svg["texts"]]
    assert {"1 Existencia", "2 Pertinencia", "3 Apropiación",
            "4 Mejoramiento continuo"} <= set(names)


def test_perfil_charts_scale_on_a_phone_and_tell_levels_apart_without_colour(
        site: Browsing, demo: Demo) -> None:
    rector = signed_in(site, RECTOR, PHONE)
    rector.goto(f"/rutas/{demo.following}/autoevaluacion/perfil")
    rector.wait_for_load_state("load")
    charts = read_charts(rector)

    assert [chart["src"].rsplit("/", 1)[-1] for chart in charts] == [
        "areas.svg", "niveles.svg", "procesos.svg"]
    assert_charts_scale_with_large_text(rector, charts)
    assert_levels_told_apart_without_colour(charts[1])
    # The numbers of the charts are in tables too, one column per level.
    expect(rector.locator("table").first.locator("thead th")).to_contain_text(
        ["Nivel 1", "Nivel 2", "Nivel 3", "Nivel 4"])
    site.check_accessibility(rector)


def test_reportes_charts_scale_on_a_phone_and_tell_levels_apart_without_colour(
        site: Browsing, demo: Demo) -> None:
    reviewer = signed_in(site, REVIEWER, PHONE)
    reviewer.goto("/reportes/")
    reviewer.wait_for_load_state("load")
    charts = read_charts(reviewer)

    assert [chart["src"].rsplit("/", 1)[-1] for chart in charts] == [
        "embudo.svg", "areas.svg", "niveles.svg"]
    assert_charts_scale_with_large_text(reviewer, charts)
    assert_levels_told_apart_without_colour(charts[2])
    levels_table = reviewer.locator("table", has=reviewer.locator("th", has_text="Nivel 4"))
    expect(levels_table).to_have_count(1)
    site.check_accessibility(reviewer)


@pytest.fixture
def varied_lights(demo: Demo) -> Iterator[None]:
    """The demo report's actividades in several lights: the first cancelada, the last
    cumplida (verde), the others reported at 0 % while time runs (amarillo or rojo, by how
    far into its dates each actividad is); put back as they were afterwards."""
    with demo.server.session() as session:
        lines = session.scalars(select(FollowUpLine).where(
            FollowUpLine.report_id == demo.report).order_by(FollowUpLine.id)).all()
        saved = [(line.avance, line.status) for line in lines]
        for line in lines:
            line.avance, line.status = 0.0, LineStatus.EN_CURSO
        lines[0].status = LineStatus.CANCELADA
        lines[-1].avance, lines[-1].status = 100.0, LineStatus.CUMPLIDA
        session.commit()
        try:
            yield
        finally:
            for line, (avance, status) in zip(lines, saved, strict=True):
                line.avance, line.status = avance, status
            session.commit()


def test_seguimiento_lights_carry_a_shape_of_their_own_beside_the_word(
        site: Browsing, demo: Demo, varied_lights: None) -> None:
    rector = signed_in(site, RECTOR, PHONE)
    rector.goto(f"/rutas/{demo.following}/seguimiento/informes/{demo.report}")
    lights = rector.locator(".semaforo").evaluate_all("""badges => badges.map(badge => {
      const icon = badge.querySelector('svg');
      const box = icon.getBoundingClientRect();
      return {state: badge.classList[1], shape: icon.dataset.shape, word: badge.innerText.trim(),
              hidden: icon.getAttribute('aria-hidden'), width: box.width, height: box.height,
              name: badge.textContent.trim()};
    })""")

    # At least verde, cancelada and one of amarillo or rojo are on the page.
    assert {"semaforo-verde", "semaforo-cancelada"} < {light["state"] for light in lights}
    shapes: dict[str, set[str]] = {}
    for light in lights:
        shapes.setdefault(light["state"], set()).add(light["shape"])
        # The word is shown and is all a screen reader gets; the shape is drawn, at least 12 px.
        assert light["word"] and light["word"] == light["name"], light
        assert light["hidden"] == "true", light
        assert min(light["width"], light["height"]) >= MIN_TEXT_PX, light
    # One shape per state, and no two states share a shape.
    assert all(len(found) == 1 for found in shapes.values()), shapes
    assert len({next(iter(found)) for found in shapes.values()}) == len(shapes), shapes
    site.check_accessibility(rector)
