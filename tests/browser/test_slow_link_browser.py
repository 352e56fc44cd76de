"""A slow link in a real Chromium: the rector signs in with one redirect, and a page seen again
costs one request, its stylesheets coming from the browser's cache.

Requests are counted where they arrive: on the live server, so nothing the cache answered is
counted.
"""

from __future__ import annotations

import pytest
from flask import Response, request
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from workflow.states import State

from .conftest import Browsing, World

pytestmark = pytest.mark.browser


def test_rector_signs_in_with_one_redirect_and_revisits_from_cache(browsing: Browsing,
                                                                   world: World) -> None:
    ruta_id = world.ruta(State.PMI_FORMULADO)
    arrived: list[str] = []

    # Registered before the first request, as Flask requires.
    @browsing.server.app.after_request
    def _count(response: Response) -> Response:
        if request.path == "/favicon.ico":
            return response  # the browser's own guess, once per site; no page links it
        arrived.append(f"{request.method} {request.full_path.removesuffix('?')} "
                       f"{response.status_code}")
        return response

    rector = browsing.new_page()
    rector.goto("/ingresar")
    browsing.check_accessibility(rector)
    first_static = sorted(hit for hit in arrived if " /static/" in hit)
    assert first_static and all("?v=" in hit and hit.endswith(" 200") for hit in first_static)

    # A wrong password first: the page says so and keeps the address typed.
    arrived.clear()
    rector.get_by_label("Correo electrónico (obligatorio)", exact=True).fill(world.rector_email)
    rector.get_by_label("Contraseña (obligatorio)", exact=True).fill("no-es-la-clave")
    rector.get_by_role("button", name="Ingresar").click()
    expect(rector.get_by_text("El correo o la contraseña no son correctos.")).to_be_visible()
    expect(rector.get_by_label("Correo electrónico (obligatorio)", exact=True)).to_have_value(
        world.rector_email)
    assert [hit for hit in arrived if " /static/" not in hit] == ["POST /ingresar 401"]
    # The stylesheets of the sign-in page were kept: nothing was asked again.
    assert [hit for hit in arrived if " /static/" in hit] == []

    arrived.clear()
    rector.get_by_label("Contraseña (obligatorio)", exact=True).fill(PASSWORD)
    rector.get_by_role("button", name="Ingresar").click()
    rector.wait_for_url(f"{browsing.server.url}/rutas/{ruta_id}")
    expect(rector.get_by_role("heading", level=1)).to_have_text(world.school_name)
    expect(rector.locator(".flashes")).to_contain_text("Bienvenido(a)")
    pages = [hit for hit in arrived if " /static/" not in hit]
    assert pages == ["POST /ingresar 302", f"GET /rutas/{ruta_id} 200"]
    browsing.check_accessibility(rector)
    seen_static = {hit.split()[1] for hit in arrived + first_static if " /static/" in hit}

    # Elsewhere and back: the Ruta costs one request, every stylesheet from the cache.
    rector.get_by_role("link", name="Cuenta", exact=True).click()
    expect(rector.get_by_role("heading", level=1)).to_be_visible()
    browsing.check_accessibility(rector)
    arrived.clear()
    rector.goto(f"/rutas/{ruta_id}")
    expect(rector.get_by_role("heading", level=1)).to_have_text(world.school_name)
    stylesheets = rector.eval_on_selector_all(
        "link[rel=stylesheet]", "links => links.map(link => link.getAttribute('href'))")
    assert stylesheets and set(stylesheets) <= seen_static
    assert arrived == [f"GET /rutas/{ruta_id} 200"]
