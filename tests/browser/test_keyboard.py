"""Keyboard only, in Chromium over the demo Secretaría: the main forms of each role, tabbed.

From the top of each page the Tab key is pressed until focus comes back round. Every stop must
come after the one before it as the page is read (the next one below, or on the same line to its
right; 4 px of tolerance), and every stop must show a focus indicator of at least 3:1 against
what surrounds it (WCAG 2.4.7, 1.4.11): the outline's colour (or the box-shadow's) against the
background just outside the element, where the ring is drawn.

Forms: the sign-in; an área's valoración (the rector and the equipo member assigned to it);
a PMI element; a seguimiento report; the PMI review with its rubric and observations.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from demo.seed import DEMO_DOMAIN
from workflow.states import State

from .accessibility import FOCUS_PROBE, WIDE
from .conftest import Browsing, demo_ruta

pytestmark = pytest.mark.browser

TOLERANCE_PX = 4
MIN_RING_RATIO = 3.0
MAX_STOPS = 400


def tab_stops(page: Page) -> list[dict[str, Any]]:
    """Every element the Tab key reaches from the top of the page, in order, with its box and
    the contrast of its focus indicator."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.evaluate("window.scrollTo(0, 0)")
    stops: list[dict[str, Any]] = []
    for _ in range(MAX_STOPS):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUS_PROBE)
        if stop is None or (stops and stop["name"] == stops[0]["name"]
                            and stop["top"] == stops[0]["top"]):
            return stops
        stops.append(stop)
    raise AssertionError(f"focus never came back round after {MAX_STOPS} Tab presses")


def out_of_order(stops: list[dict[str, Any]]) -> list[str]:
    """The stops that come before the previous one as the page is read."""
    wrong = []
    for before, after in zip(stops, stops[1:], strict=False):
        same_line = (after["top"] < before["bottom"] - TOLERANCE_PX
                     and after["bottom"] > before["top"] + TOLERANCE_PX)
        if same_line:
            ok = after["left"] >= before["left"] - TOLERANCE_PX
        else:
            ok = after["top"] >= before["top"] - TOLERANCE_PX
        if not ok:
            wrong.append(f"{before['name']} ({before['left']:.0f}, {before['top']:.0f}) → "
                         f"{after['name']} ({after['left']:.0f}, {after['top']:.0f})")
    return wrong


def problems(page: Page) -> list[str]:
    stops = tab_stops(page)
    assert len(stops) >= 5, (page.url, stops)
    found = [f"{page.url}: order: {line}" for line in out_of_order(stops)]
    found += [f"{page.url}: focus ring {stop['ratio']}:1 ({stop['ring']} px) on {stop['name']}"
              for stop in stops if stop["ratio"] < MIN_RING_RATIO]
    return found


def signed_in(site: Browsing, account: str) -> Page:
    page = site.new_page(WIDE)
    site.login(page, f"{account}@{DEMO_DOMAIN}")
    return page


def test_the_main_forms_follow_the_visual_order_with_a_visible_focus(
        demo_browsing: Browsing) -> None:
    site = demo_browsing
    server = site.server
    found: list[str] = []

    page = site.new_page(WIDE)
    page.goto("/ingresar")
    found += problems(page)

    # rector02's Ruta is a borrador; equipo02 is assigned the académica.
    page = signed_in(site, "rector02")
    borrador = demo_ruta(server, 2, State.BORRADOR)
    page.goto(f"/rutas/{borrador}/autoevaluacion/areas/DIR")
    assert page.get_by_role("button", name=re.compile("^Guardar")).count() > 0
    found += problems(page)
    page = signed_in(site, "equipo02")
    page.goto(f"/rutas/{borrador}/autoevaluacion/areas/ACA")
    assert page.get_by_role("button", name=re.compile("^Guardar")).count() > 0
    found += problems(page)

    page = signed_in(site, "rector04")
    page.goto(f"/rutas/{demo_ruta(server, 4, State.AUTOEVALUACION_ENVIADA)}/pmi/elemento"
              "?tipo=objetivo")
    found += problems(page)

    # Its latest seguimiento report came back from the Secretaría: the form is open.
    page = signed_in(site, "rector01")
    page.goto(f"/rutas/{demo_ruta(server, 1, State.SEGUIMIENTO)}/seguimiento")
    page.get_by_role("link", name=re.compile("^Diligenciar el informe")).first.click()
    assert page.get_by_role("button", name="Guardar el informe").count() == 1
    found += problems(page)

    page = signed_in(site, "revisor1")
    page.goto(f"/rutas/{demo_ruta(server, 5, State.EN_REVISION)}/pmi/revision")
    assert page.get_by_role("button", name="Aprobar el PMI").count() == 1
    found += problems(page)

    assert found == [], "\n".join(found)


def test_the_measures_tell_a_faint_ring_and_a_backward_jump(browser: Browser) -> None:
    """The probe itself: the old amber ring (#ffbf47) measures 1.6:1 on white, the dark one
    15:1; a stop that jumps back up the page is out of order."""
    context = browser.new_context(viewport=WIDE)
    try:
        page = context.new_page()
        ratios = []
        for colour in ("#ffbf47", "#1d2530"):
            page.set_content(f"<style>body {{ background: #fff; }} :focus-visible {{ outline: "
                             f"3px solid {colour}; outline-offset: 2px; }}</style>"
                             "<p><button>Guardar</button></p>")
            page.keyboard.press("Tab")
            ratios.append(page.evaluate(FOCUS_PROBE)["ratio"])
        assert ratios[0] < MIN_RING_RATIO < ratios[1], ratios
    finally:
        context.close()
    down = {"name": "a", "top": 100, "bottom": 120, "left": 10}
    right = {"name": "b", "top": 102, "bottom": 122, "left": 200}
    up = {"name": "c", "top": 40, "bottom": 60, "left": 10}
    assert out_of_order([down, right]) == []
    assert len(out_of_order([down, right, up])) == 1
