"""The Declaración de accesibilidad (issue 18, item 5): public, in every footer, and saying
what Resolución 1519 de 2020 asks: the standard, how it is checked, the known limits, the
date of the last review and where to report a barrier."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from blueprints.accesibilidad import LAST_REVIEWED
from ruta import create_app
from ruta.config import load_config
from tests.conftest import Factory, WebClient, app_config
from workflow.dates import fecha
from workflow.roles import Role
from workflow.states import State

FOOTER_LINK = re.compile(
    r'<footer class="site-footer[^"]*">.*<a href="/accesibilidad">Declaración de '
    r'accesibilidad</a>.*</footer>', re.S)


@pytest.fixture
def contact_app(database_url: str) -> Iterator[Flask]:
    application = create_app(app_config(
        database_url, ACCESSIBILITY_CONTACT="barreras@sedibague.gov.co"))
    yield application
    application.extensions["ruta_db"].dispose()


def test_statement_is_public_and_says_standard_checks_limits_date_and_contact(
        contact_app: Flask) -> None:
    response = contact_app.test_client().get("/accesibilidad")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "<h1>Declaración de accesibilidad</h1>" in page
    assert "WCAG) 2.1, nivel AA" in page
    assert "Resolución 1519 de 2020" in page and "anexo 1" in page
    assert "axe-core" in page and "1280 píxeles" in page and "360 píxeles" in page
    assert "200 %" in page and "solo el teclado" in page
    for limit in ("Documentos PDF.", "Gráficas.", "Archivos que suben las instituciones.",
                  "Contenido de terceros."):
        assert f"<strong>{limit}</strong>" in page
    assert (f'<time datetime="{LAST_REVIEWED.isoformat()}">{fecha(LAST_REVIEWED)}</time>'
            in page)
    assert ('<a href="mailto:barreras@sedibague.gov.co?subject=Barrera%20de%20accesibilidad'
            '%20en%20la%20Ruta%20de%20Mejoramiento">barreras@sedibague.gov.co</a>.') in page
    # Signed out, nobody's Secretaría is named, and the sign-in menu is not shown.
    assert "la dirección de la Secretaría" not in page
    assert 'action="/salir"' not in page


def test_statement_names_the_signed_in_persons_secretaria(
        contact_app: Flask, database_url: str) -> None:
    with contact_app.extensions["ruta_db"].session_factory() as session:
        make = Factory(session)
        secretaria = make.secretaria("Secretaría de Educación de Neiva", "41001")
        rector = make.user(Role.RECTOR, make.school(secretaria))
        email = rector.email
        session.commit()
    web = WebClient(contact_app.test_client())
    web.login(email)

    response = web.get("/accesibilidad")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert ("barreras@sedibague.gov.co</a>, la dirección de la Secretaría de Educación de "
            "Neiva para estos avisos.") in page
    assert FOOTER_LINK.search(page)


def test_every_roles_pages_link_to_the_statement_in_their_footer(
        make: Factory, db: Session, web_factory) -> None:  # type: ignore[no-untyped-def]
    school = make.school()
    make.ruta(school, State.BORRADOR, make.catalog())
    people = {role: make.user(role, school if role.belongs_to_school else None).email
              for role in Role}
    db.commit()
    anonymous = web_factory()
    pages = [("/ingresar", anonymous, 200), ("/no-existe", anonymous, 404)]
    for role, email in people.items():
        client = web_factory()
        home = client.login(email).headers["Location"]
        pages += [(home, client, 200), ("/cuenta", client, 200)]
        if role is Role.ADMINISTRADOR:
            pages.append(("/no-existe", client, 404))

    assert len(pages) == 2 + 2 * len(Role) + 1
    for url, client, status in pages:
        response = client.get(url)
        assert response.status_code == status, url
        assert FOOTER_LINK.search(response.get_data(as_text=True)), url


def test_contact_setting_has_a_default_and_reads_the_environment() -> None:
    assert load_config({}, mode="development")["ACCESSIBILITY_CONTACT"] == (
        "accesibilidad@ruta.local")
    assert load_config({"ACCESSIBILITY_CONTACT": " barreras@sed.gov.co "},
                       mode="development")["ACCESSIBILITY_CONTACT"] == "barreras@sed.gov.co"
