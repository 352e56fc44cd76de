"""The perfil page of a Ruta whose previous Ruta used another version of the instrument."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from tests.autoevaluacion.test_autoevaluacion_views import signed_in, text_of
from tests.catalogo.test_crosswalk import two_cycles
from tests.conftest import Factory, WebClient
from workflow.catalogo.models import Crosswalk, CrosswalkEntry
from workflow.roles import Role


def row_of(page: str, code: str) -> str:
    """The componente-changes table row of ``code``, tags stripped, spaces collapsed."""
    table = page[page.index('class="componente-changes'):]
    row = re.search(rf"<tr>\s*<th scope=\"row\">{re.escape(code)} ·.*?</tr>", table, re.S)
    assert row is not None, code
    return " ".join(re.sub(r"<[^>]+>", " ", row.group(0)).split())


def test_perfil_page_compares_across_versions_through_the_crosswalk(
        db: Session, make: Factory, web: WebClient) -> None:
    before, after = two_cycles(db, make, earlier={"DIR.2.1": 1, "DIR.3.1": 4},
                               later={"DIR.2.1": 4})
    rector = make.user(Role.RECTOR, school=after.school)
    db.commit()
    signed_in(web, rector)

    page = text_of(web.get(f"/rutas/{after.id}/autoevaluacion/perfil"))

    assert ("Frente a la Ruta 2024–2026: 1 componentes subieron de nivel, 0 bajaron y 42 "
            "siguen igual; 2 no son comparables.") in page
    assert ("La Ruta 2024–2026 usó otra versión del instrumento (guia34-2008). Cada componente "
            "se compara con el que le corresponde según la tabla de equivalencias «Equivalencias "
            "de la Guía 34 de 2008 a su actualización de 2026»") in page
    assert row_of(page, "DIR.2.1") == (
        "DIR.2.1 · Consejo directivo Antes: DIR.3.1 · Consejo directivo 4 Mejoramiento "
        "continuo 4 Mejoramiento continuo = Igual")
    assert row_of(page, "DIR.1.1") == (
        "DIR.1.1 · Construcción del Proyecto educativo institucional, en sus diversas "
        "denominaciones Sin equivalente en guia34-2008 — 2 Pertinencia ≠ No comparable")
    assert row_of(page, "DIR.1.3").startswith(
        "DIR.1.3 · Liderazgo y articulación institucional Antes: DIR.2.1 · Liderazgo; "
        "DIR.2.2 · Articulación de planes, proyectos y acciones 1,5 (promedio) 2 Pertinencia "
        "↑ Subió")
    printable = text_of(web.get(f"/rutas/{after.id}/autoevaluacion/imprimir"))
    assert "según la tabla de equivalencias" in printable
    assert row_of(printable, "DIR.2.1").endswith("= Igual")


def test_perfil_page_says_why_nothing_compares_without_a_crosswalk(
        db: Session, make: Factory, web: WebClient) -> None:
    _, after = two_cycles(db, make, earlier={}, later={})
    db.query(CrosswalkEntry).delete()
    db.query(Crosswalk).delete()
    rector = make.user(Role.RECTOR, school=after.school)
    db.commit()
    signed_in(web, rector)

    page = text_of(web.get(f"/rutas/{after.id}/autoevaluacion/perfil"))

    assert ("No hay una tabla de equivalencias entre guia34-2008 y guia34-2026: ningún "
            "componente se puede comparar con la Ruta anterior.") in page
    assert "0 componentes subieron de nivel, 0 bajaron y 0 siguen igual; 45 no son " \
           "comparables." in page
    assert "Subió" not in page.split('class="componente-changes')[1]
    assert row_of(page, "DIR.2.1").endswith("≠ No comparable")
