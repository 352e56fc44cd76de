"""A refused save answers with the error summary first in the content, each error linking to a
field that exists, and the fields that block saving say «(obligatorio)»."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from workflow.roles import Role

SUMMARY = re.compile(r'<div class="error-summary"[^>]*>(.*?)</div>', re.S)
REQUIRED = '<span class="required">(obligatorio)</span>'


def assert_summary_first_and_linked(page: str) -> list[str]:
    """The summary comes before the page's heading, is focusable and autofocused, and each of
    its links names an element of the page. Returns the linked ids."""
    found = SUMMARY.search(page)
    assert found is not None, "no error summary"
    opening = page[found.start():page.index(">", found.start())]
    assert 'tabindex="-1"' in opening and "autofocus" in opening
    content = page[page.index('<main id="contenido"'):]
    assert content.index('class="error-summary"') < content.index("<h1")
    targets = re.findall(r'href="#([^"]+)"', found.group(1))
    for target in targets:
        assert f'id="{target}"' in page, f"the summary links to #{target}, which is not there"
    return targets


def test_school_form_refused_shows_linked_summary(web: WebClient, db: Session,
                                                  make: Factory) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    db.commit()
    web.login(admin.email)

    response = web.post("/admin/instituciones/nueva", {"dane_code": "12", "name": "",
                                                       "zona": "", "locality": ""})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert set(assert_summary_first_and_linked(page)) == {"dane_code", "name", "zona",
                                                         "locality"}
    assert page.count(REQUIRED) == 4


def test_user_form_refused_shows_linked_summary(web: WebClient, db: Session,
                                                make: Factory) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    db.commit()
    web.login(admin.email)

    response = web.post("/admin/usuarios/nuevo", {"name": "", "email": "sin-arroba",
                                                  "role": ""})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert {"name", "email", "role"} <= set(assert_summary_first_and_linked(page))
    assert 'value="sin-arroba"' in page


def test_login_refused_links_to_password(web: WebClient, db: Session, make: Factory) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    web.get("/ingresar")

    response = web.post("/ingresar", {"email": user.email, "password": "equivocada-123"})

    page = response.get_data(as_text=True)
    assert response.status_code == 401
    assert assert_summary_first_and_linked(page) == ["password"]
    assert page.count(REQUIRED) == 2 and "data-no-draft" in page


def test_password_change_refused_links_to_fields(web: WebClient, db: Session,
                                                 make: Factory) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    web.login(user.email)

    response = web.post("/cuenta/contrasena", {"current": "no", "new": "corta",
                                               "confirm": "corta"})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert set(assert_summary_first_and_linked(page)) == {"current", "new"}


def test_sources_form_refused_links_to_name(web: WebClient, db: Session,
                                            make: Factory) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    db.commit()
    web.login(admin.email)

    response = web.post("/pmi/fuentes", {"nombre": "", "externa": "1"})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert assert_summary_first_and_linked(page) == ["nombre"]
    assert REQUIRED in page


def test_pages_load_the_script_deferred(web: WebClient) -> None:
    page = web.get("/ingresar").get_data(as_text=True)
    assert re.search(r'<script src="/static/ruta\.js\?v=[0-9a-f]{12}" defer></script>', page)
