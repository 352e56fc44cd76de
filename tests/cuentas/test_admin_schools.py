"""Administración of schools through the web: list, create, edit, deactivate, import."""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ruta.config import PROJECT_ROOT
from tests.conftest import Factory, WebClient
from workflow.models import OPENED, Ruta, RutaTransition, School, User, Zona
from workflow.roles import Role
from workflow.states import State

NEW_SCHOOL = {"dane_code": "173001000555", "name": "  Institución Educativa  Nueva ",
              "zona": "rural", "locality": "Corregimiento  Dantas"}


def signed_in(web: WebClient, make: Factory, role: Role = Role.ADMINISTRADOR, **kwargs: Any,
              ) -> User:
    user = make.user(role, **kwargs)
    make.db.commit()
    web.login(user.email)
    return user


def school_row(school: School) -> tuple[str, str, Zona, str, bool]:
    return (school.dane_code, school.name, school.zona, school.locality, school.active)


def school_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(School)) or 0


def row_names(html: str) -> list[str]:
    """The school names in the list's rows, in order."""
    return re.findall(r'<th scope="row">([^<]+)</th>', html)


# --- creating -----------------------------------------------------------------------------


def test_school_create_saves_it_and_opens_its_ruta(web: WebClient, db: Session,
                                                    make: Factory) -> None:
    admin = signed_in(web, make)

    response = web.post("/admin/instituciones/nueva", NEW_SCHOOL)

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/instituciones"
    school = db.scalars(select(School)).one()
    assert school_row(school) == ("173001000555", "Institución Educativa Nueva", Zona.RURAL,
                                  "Corregimiento Dantas", True)
    ruta = db.scalars(select(Ruta)).one()
    assert (ruta.school_id, ruta.horizon_start_year, ruta.horizon_end_year, ruta.state) == (
        school.id, 2024, 2026, State.BORRADOR)
    assert [(row.trigger, row.actor_id) for row in db.scalars(select(RutaTransition))] == [
        (OPENED, admin.id)]
    page = web.get("/admin/instituciones").get_data(as_text=True)
    assert ("Se registró «Institución Educativa Nueva» y se abrió su Ruta 2024–2026."
            in page)


def test_school_create_with_bad_fields_answers_422_in_spanish_and_saves_nothing(
        web: WebClient, db: Session, make: Factory) -> None:
    signed_in(web, make)

    response = web.post("/admin/instituciones/nueva", {
        "dane_code": "17300-100055", "name": "   ", "zona": "montaña", "locality": "Comuna 9"})

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for message in [
        "El código DANE «17300-100055» debe tener exactamente 12 dígitos, sin espacios ni "
        "guiones.",
        "Escriba el nombre de la institución.",
        "La zona debe ser «urbana» o «rural».",
    ]:
        assert message in html
    # What was typed stays in the form.
    assert 'value="17300-100055"' in html
    assert 'value="Comuna 9"' in html
    assert school_count(db) == 0
    assert db.scalar(select(func.count()).select_from(Ruta)) == 0


def test_school_create_refuses_a_code_already_registered(web: WebClient, db: Session,
                                                         make: Factory) -> None:
    signed_in(web, make)
    existing = make.school(name="Colegio Existente")
    db.commit()

    response = web.post("/admin/instituciones/nueva",
                        {**NEW_SCHOOL, "dane_code": existing.dane_code})

    assert response.status_code == 422
    assert (f"El código DANE {existing.dane_code} ya es de «Colegio Existente»."
            in response.get_data(as_text=True))
    assert school_count(db) == 1


# --- editing and deactivating -------------------------------------------------------------


def test_school_edit_saves_the_new_data(web: WebClient, db: Session, make: Factory) -> None:
    signed_in(web, make)
    school = make.school(name="Nombre Viejo")
    db.commit()
    form = web.get(f"/admin/instituciones/{school.id}/editar")
    assert f'value="{school.dane_code}"' in form.get_data(as_text=True)

    response = web.post(f"/admin/instituciones/{school.id}/editar", {
        "dane_code": "273001000777", "name": "Nombre Nuevo", "zona": "rural",
        "locality": "Corregimiento Juntas"})

    assert response.status_code == 302
    db.refresh(school)
    assert school_row(school) == ("273001000777", "Nombre Nuevo", Zona.RURAL,
                                  "Corregimiento Juntas", True)


def test_school_edit_with_bad_fields_keeps_what_was_typed(web: WebClient, db: Session,
                                                          make: Factory) -> None:
    signed_in(web, make)
    school = make.school(name="Nombre Viejo")
    db.commit()
    before = school_row(school)

    response = web.post(f"/admin/instituciones/{school.id}/editar", {
        "dane_code": "105001000777", "name": "Nombre Tecleado", "zona": "urbana",
        "locality": ""})

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert ("El código DANE «105001000777» no es de Secretaría de Educación de Ibagué: después "
            "del primer dígito debe seguir 73001.") in html
    assert "Escriba la comuna de la institución." in html
    assert 'value="Nombre Tecleado"' in html
    db.refresh(school)
    assert school_row(school) == before


def test_school_deactivate_then_reactivate(web: WebClient, db: Session, make: Factory) -> None:
    signed_in(web, make)
    school = make.school()
    db.commit()

    off = web.post(f"/admin/instituciones/{school.id}/desactivar",
                   {"volver": "/admin/instituciones?estado=activas"})
    db.refresh(school)
    assert (off.status_code, off.headers["Location"], school.active) == (
        302, "/admin/instituciones?estado=activas", False)

    on = web.post(f"/admin/instituciones/{school.id}/reactivar",
                  {"volver": "https://otro-sitio.example/"})
    db.refresh(school)
    assert (on.status_code, on.headers["Location"], school.active) == (
        302, "/admin/instituciones", True)


def test_open_missing_rutas_opens_them_for_active_schools_only(
        web: WebClient, db: Session, make: Factory) -> None:
    admin = signed_in(web, make)
    with_ruta = make.ruta().school
    without = make.school()
    inactive = make.school()
    inactive.active = False
    db.commit()
    assert "1 institución activa todavía no tiene su Ruta 2024–2026." in web.get(
        "/admin/instituciones").get_data(as_text=True)

    response = web.post("/admin/instituciones/abrir-rutas")

    assert response.status_code == 302
    assert sorted((ruta.school_id, ruta.horizon_start_year)
                  for ruta in db.scalars(select(Ruta))) == sorted(
        [(with_ruta.id, 2024), (without.id, 2024)])
    assert [row.actor_id for row in db.scalars(
        select(RutaTransition).join(RutaTransition.ruta).where(Ruta.school_id == without.id))
    ] == [admin.id]
    page = web.get("/admin/instituciones").get_data(as_text=True)
    assert "Se abrió 1 Ruta del horizonte 2024–2026." in page


# --- the list -----------------------------------------------------------------------------


def test_school_list_searches_and_filters_by_zona_and_state(web: WebClient, db: Session,
                                                            make: Factory) -> None:
    signed_in(web, make)
    make.school(name="Colegio Alfa")
    beta = make.school(name="Colegio Beta", zona=Zona.RURAL)
    gamma = make.school(name="Escuela Gamma")
    gamma.active = False
    db.commit()

    def names(query: str) -> list[str]:
        return row_names(web.get(f"/admin/instituciones?{query}").get_data(as_text=True))

    assert names("") == ["Colegio Alfa", "Colegio Beta", "Escuela Gamma"]
    assert names("q=colegio") == ["Colegio Alfa", "Colegio Beta"]
    assert names(f"q={beta.dane_code}") == ["Colegio Beta"]
    assert names("zona=rural") == ["Colegio Beta"]
    assert names("estado=inactivas") == ["Escuela Gamma"]
    assert names("estado=activas&zona=urbana") == ["Colegio Alfa"]


def test_school_list_shows_the_current_ruta_state_with_a_link(web: WebClient, db: Session,
                                                              make: Factory) -> None:
    signed_in(web, make)
    ruta = make.ruta(make.school(name="Colegio Con Ruta"), state=State.EN_REVISION)
    make.school(name="Colegio Sin Ruta")
    db.commit()

    html = web.get("/admin/instituciones").get_data(as_text=True)

    assert (f'<a class="ruta-link" href="/rutas/{ruta.id}"><span class="badge badge-en_revision">'
            f'{State.EN_REVISION.label}</span>') in html
    assert ">Sin Ruta</td>" in html


def test_school_list_paginates(app: Flask, web: WebClient, db: Session, make: Factory) -> None:
    app.config["QUEUE_PAGE_SIZE"] = 2
    signed_in(web, make)
    for letter in "ABCDE":
        make.school(name=f"Colegio {letter}", zona=Zona.RURAL)
    db.commit()

    first = web.get("/admin/instituciones?zona=rural").get_data(as_text=True)
    last = web.get("/admin/instituciones?zona=rural&pagina=3").get_data(as_text=True)

    assert row_names(first) == ["Colegio A", "Colegio B"]
    assert "Página 1 de 3" in first
    assert 'href="/admin/instituciones?pagina=2&amp;zona=rural"' in first
    assert row_names(last) == ["Colegio E"]


# --- who may do what ----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.CONSULTA, Role.REVISOR])
def test_school_list_is_read_only_for_consulta_and_revisor(web: WebClient, db: Session,
                                                           make: Factory, role: Role) -> None:
    signed_in(web, make, role)
    make.ruta(make.school(name="Colegio Visible"))
    db.commit()

    response = web.get("/admin/instituciones")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert row_names(html) == ["Colegio Visible"]
    # The only form that posts is the header's sign-out.
    # (Drawn twice: in the phone's folded menu and in the wide header; one is displayed.)
    assert re.findall(r'<form[^>]*method="post"[^>]*>', html) == [
        '<form class="logout" method="post" action="/salir">'] * 2
    assert "/admin/instituciones/nueva" not in html
    assert "Importar" not in html


POST_ENDPOINTS = ["/admin/instituciones/nueva", "/admin/instituciones/{id}/editar",
                  "/admin/instituciones/{id}/desactivar", "/admin/instituciones/{id}/reactivar",
                  "/admin/instituciones/abrir-rutas", "/admin/instituciones/importar"]


@pytest.mark.parametrize("role", [Role.CONSULTA, Role.REVISOR])
def test_school_posts_are_forbidden_to_consulta_and_revisor(web: WebClient, db: Session,
                                                            make: Factory, role: Role) -> None:
    signed_in(web, make, role)
    school = make.school(name="Colegio Intacto")
    db.commit()
    before = school_row(school)

    statuses = [web.post(url.format(id=school.id), NEW_SCHOOL).status_code
                for url in POST_ENDPOINTS]
    pages = [web.get(url).status_code for url in [
        "/admin/instituciones/nueva", f"/admin/instituciones/{school.id}/editar",
        "/admin/instituciones/importar", "/admin/instituciones/importar/ejemplo.csv"]]

    assert statuses == [403] * len(POST_ENDPOINTS)
    assert pages == [403] * 4
    db.refresh(school)
    assert school_row(school) == before
    assert school_count(db) == 1


def test_school_of_another_secretaria_is_not_found(web: WebClient, db: Session,
                                                   make: Factory) -> None:
    tolima = make.secretaria("Secretaría de Educación del Tolima", divipola="73")
    signed_in(web, make, secretaria=tolima)
    other = make.school(name="Colegio de Ibagué")
    db.commit()
    before = school_row(other)

    answers = [
        web.get(f"/admin/instituciones/{other.id}/editar").status_code,
        web.post(f"/admin/instituciones/{other.id}/editar", NEW_SCHOOL).status_code,
        web.post(f"/admin/instituciones/{other.id}/desactivar").status_code,
        web.post(f"/admin/instituciones/{other.id}/reactivar").status_code,
    ]

    assert answers == [404, 404, 404, 404]
    db.refresh(other)
    assert school_row(other) == before
    assert row_names(web.get("/admin/instituciones").get_data(as_text=True)) == []


# --- importing through the web ------------------------------------------------------------


def upload(web: WebClient, content: bytes, filename: str = "colegios.csv") -> Any:
    return web.post("/admin/instituciones/importar",
                    {"archivo": (BytesIO(content), filename)},
                    content_type="multipart/form-data")


GOOD_FILE = (
    "codigo_dane;nombre;zona;comuna_o_corregimiento;rector_nombre;rector_correo\r\n"
    "173001000301;Institución Educativa Ñambí;urbana;Comuna 4;José Peña;jose@colegio.edu.co\r\n"
    "273001000302;Institución Educativa Laureles;rural;Corregimiento Laureles;;\r\n"
).encode("cp1252")


def test_import_page_imports_every_row_of_a_good_file(web: WebClient, db: Session,
                                                      make: Factory) -> None:
    admin = signed_in(web, make)
    page = web.get("/admin/instituciones/importar").get_data(as_text=True)
    assert 'href="/admin/instituciones/importar/ejemplo.csv"' in page

    response = upload(web, GOOD_FILE)

    assert (response.status_code, response.headers["Location"]) == (302, "/admin/instituciones")
    assert [school_row(school) for school in db.scalars(
        select(School).order_by(School.dane_code))] == [
        ("173001000301", "Institución Educativa Ñambí", Zona.URBANA, "Comuna 4", True),
        ("273001000302", "Institución Educativa Laureles", Zona.RURAL,
         "Corregimiento Laureles", True)]
    rector = db.scalars(select(User).where(User.role == Role.RECTOR)).one()
    assert (rector.email, rector.name, rector.school.dane_code, rector.password_hash,
            rector.secretaria_id) == (
        "jose@colegio.edu.co", "José Peña", "173001000301", None, admin.secretaria_id)
    assert db.scalar(select(func.count()).select_from(Ruta)) == 2
    listing = web.get("/admin/instituciones").get_data(as_text=True)
    assert ("Importación completa: 2 instituciones nuevas, 2 Rutas abiertas (horizonte "
            "2024–2026) y 1 cuenta de rector(a) sin contraseña.") in listing
    users = web.get("/admin/usuarios?rol=rector").get_data(as_text=True)
    assert '<span class="meta">Sin contraseña (invitación pendiente)</span>' in users


def test_import_page_with_two_bad_rows_imports_nothing_and_lists_both(
        web: WebClient, db: Session, make: Factory) -> None:
    signed_in(web, make)
    content = (
        "\ufeffCódigo DANE,Nombre,Zona,Comuna o corregimiento,Rector nombre,Rector correo\n"
        "173001000401,Colegio Bueno,urbana,Comuna 1,,\n"
        "173001000402,Colegio Malo,urbana,Comuna 2,Sin Correo,\n"
        "273001000403,Colegio Bueno Dos,rural,Corregimiento Juntas,,\n"
        "173001000402,Colegio Repetido,urbana,Comuna 3,,\n"
    ).encode("utf-8")

    response = upload(web, content)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert ("No se importó nada: el archivo tiene errores (2 filas con problemas). Corríjalos y "
            "súbalo de nuevo completo.") in html
    # Each row's problem links to the file field, where the corrected file goes.
    assert re.findall(r'<li><a href="#archivo">(Fila [^<]+)</a></li>', html) == [
        "Fila 3: escriba el nombre y el correo del rector o la rectora, o deje ambos vacíos si "
        "la institución todavía no tiene.",
        "Fila 5: el código DANE 173001000402 está repetido: ya aparece en la fila 3.",
    ]
    assert school_count(db) == 0
    assert db.scalar(select(func.count()).select_from(User).where(User.role == Role.RECTOR)) == 0


def test_import_page_without_a_file_asks_for_one(web: WebClient, db: Session,
                                                 make: Factory) -> None:
    signed_in(web, make)
    response = web.post("/admin/instituciones/importar", {},
                        content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Elija el archivo CSV que va a importar." in response.get_data(as_text=True)


def test_import_example_file_downloads_as_shipped(web: WebClient, make: Factory) -> None:
    signed_in(web, make)
    response = web.get("/admin/instituciones/importar/ejemplo.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.get_data() == (
        PROJECT_ROOT / "docs" / "ejemplo-importacion-colegios.csv").read_bytes()
    response.close()
