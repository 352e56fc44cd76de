"""Every listing page, seen by each role of one Secretaría while another Secretaría exists.

Removing the Secretaría filter from the review queue's query passed every security test: they
open objects by id (404 outside the scope) but never read a list. Here Secretaría Y's school,
people, e-mails, exports, calendar and crosswalk carry the word «Marcador»; the administrador,
revisor and consulta of Secretaría X read every list of their menu, with its search and filter
variants, and the downloads of the consolidado, and must never meet it. Each base page must
show X's own school or person, so a page that lists nothing cannot pass for a safe one.

One world per test (the ``app``/``db`` fixtures are per test), one test per role.
"""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from tests.web.test_access import World, allowed_roles, build_world
from workflow.consolidado.export_jobs import run_pending
from workflow.consolidado.exports import SHEET_LABELS
from workflow.models import OutboxMessage, OutboxStatus, User
from workflow.roles import Role

MARK = "Marcador"
THEIR_SCHOOL = f"Colegio {MARK} del Tolima"
THEIR_LOCALITY = f"Comuna {MARK}"
THEIR_EMAIL_DOMAIN = "marcador.co"
OUR_SCHOOL = "Colegio Propio de Ibagué"
# The parameters that carry what a person typed (searches, the chosen comuna).
TYPED = {"q", "colegio", "comuna"}
SECRETARIA_ROLES = (Role.ADMINISTRADOR, Role.REVISOR, Role.CONSULTA)


def mark_their_secretaria(db: Session, world: World) -> list[str]:
    """Give Secretaría Y's rows the words no page of X may show; return those words."""
    theirs = world.other_secretaria
    theirs.school.name = THEIR_SCHOOL
    theirs.school.locality = THEIR_LOCALITY
    world.home.school.name = OUR_SCHOOL
    for user in db.scalars(select(User).where(
            User.secretaria_id == theirs.school.secretaria_id)):
        user.name = f"Persona {MARK} {user.id}"
        user.email = f"persona{user.id}@{THEIR_EMAIL_DOMAIN}"
    theirs.message.subject = f"Asunto {MARK} de la otra Secretaría"
    theirs.message.recipients = [f"destino@{THEIR_EMAIL_DOMAIN}"]
    theirs.checkpoint.name = f"Corte {MARK}"
    if theirs.crosswalk is not None:
        theirs.crosswalk.name = f"Equivalencia {MARK}"
    theirs.catalog.title = f"Instrumento {MARK}"
    if theirs.export_job is not None:  # its list shows the filter the export was asked with
        theirs.export_job.comuna = THEIR_LOCALITY
    # A delivered e-mail of theirs too, so the «enviados» filter has one to leak.
    db.add(OutboxMessage(
        secretaria_id=theirs.school.secretaria_id, ruta_id=theirs.ruta.id, kind="prueba",
        dedupe_key=f"enviado-{theirs.ruta.id}", recipients=[f"otro@{THEIR_EMAIL_DOMAIN}"],
        subject=f"Enviado {MARK}", text_body=MARK, html_body=f"<p>{MARK}</p>",
        status=OutboxStatus.SENT, attempts=1, sent_at=datetime.now(UTC)))
    db.commit()
    return [MARK, THEIR_EMAIL_DOMAIN, theirs.school.dane_code]


@pytest.fixture
def two(app: Flask, db: Session, make: Factory, web_factory: Callable[[], WebClient],
        tmp_path: Path) -> tuple[World, list[str]]:
    world = build_world(app, db, make, web_factory, tmp_path / "evidencias")
    return world, mark_their_secretaria(db, world)


def listing_pages(world: World) -> list[tuple[str, str, str | None]]:
    """(endpoint, URL, what of X the page must show, or None for a filter that may empty it).

    The searches match Y's rows (its school, its people, its DANE code, its comuna) without
    containing «Marcador» themselves: what a search box shows back is not counted, and a row
    of Y that came through would still show the word."""
    theirs = world.other_secretaria.school
    sheets = [(f"/reportes/consolidado.csv?hoja={slug}", None) for slug in SHEET_LABELS]
    pages: list[tuple[str, str, str | None]] = [
        ("revision.queue", "/revision/", OUR_SCHOOL),
        ("revision.queue", "/revision/?estado=en_revision", OUR_SCHOOL),
        ("revision.queue", "/revision/?revisor=sin", OUR_SCHOOL),
        ("revision.queue", "/revision/?zona=urbana&horizonte=2024", OUR_SCHOOL),
        ("revision.queue", "/revision/?colegio=tolima", None),
        ("revision.queue", f"/revision/?colegio={theirs.dane_code[:8]}", None),
        ("revision.queue", f"/revision/?zona=urbana&comuna={THEIR_LOCALITY}", None),
        ("revision.queue", "/revision/?orden=colegio&dir=desc", OUR_SCHOOL),
        ("reportes.index", "/reportes/", OUR_SCHOOL),
        ("reportes.index", "/reportes/?zona=urbana&horizonte=2024", OUR_SCHOOL),
        ("reportes.index", f"/reportes/?zona=urbana&comuna={THEIR_LOCALITY}", None),
        ("reportes.imprimir", "/reportes/imprimir", OUR_SCHOOL),
        *[("reportes.export_csv", url, None) for url, _ in sheets],
        ("reportes.export_csv", "/reportes/consolidado.csv", OUR_SCHOOL),
        ("reportes.exportaciones", "/reportes/exportaciones", None),
        ("admin.schools", "/admin/instituciones", OUR_SCHOOL),
        ("admin.schools", "/admin/instituciones?zona=urbana&estado=activas", None),
        ("admin.schools", "/admin/instituciones?q=tolima", None),
        ("admin.schools", f"/admin/instituciones?q={theirs.dane_code[:8]}", None),
        ("admin.users", "/admin/usuarios", world.users[Role.REVISOR].email),
        ("admin.users", "/admin/usuarios?rol=revisor", world.users[Role.REVISOR].email),
        ("admin.users", "/admin/usuarios?rol=administrador&estado=activos", None),
        ("admin.users", "/admin/usuarios?q=persona", None),
        ("admin.users", "/admin/usuarios?q=@marca", None),
        ("outbox.index", "/admin/correo/", world.home.message.subject),
        ("outbox.index", "/admin/correo/?estado=failed", None),
        ("outbox.index", "/admin/correo/?estado=sent", None),
        ("outbox.unknown_period", "/admin/correo/inciertos?desde=2000-01-01&hasta=2100-12-31",
         None),
        ("pendientes.index", "/pendientes/", None),
        ("pendientes.index", "/pendientes/?q=tolima", None),
        ("pendientes.index", f"/pendientes/?zona=urbana&comuna={THEIR_LOCALITY}", None),
        ("pendientes.index", "/pendientes/?vista=mios", None),
        ("calendario.edit", "/admin/calendario/2024", world.home.checkpoint.name),
        ("horizontes.index", "/admin/horizontes/", None),
        ("admin.crosswalks", "/admin/equivalencias/", None),
        ("autoevaluacion.catalog_list", "/catalogos/", None),
    ]
    return pages


def readable(response: object) -> str:
    """The text of a page or a download (an Excel file's strings, unzipped)."""
    data = response.get_data()  # type: ignore[attr-defined]
    if data.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return "\n".join(book.read(name).decode("utf-8", "replace")
                             for name in book.namelist() if name.endswith(".xml"))
    text = data.decode("utf-8-sig", "replace")
    if response.mimetype == "text/csv":  # type: ignore[attr-defined]
        dialect = csv.Sniffer().sniff(text[:2048], delimiters=";,") if text else csv.excel
        text = "\n".join("|".join(row) for row in csv.reader(io.StringIO(text), dialect))
    return text


def queued_workbook(app: Flask, client: WebClient, folder: Path) -> tuple[str, str, str]:
    """The Excel file as the person gets it: asked for on the page, written by the scheduler's
    runner, downloaded from the job's address."""
    queued = client.post("/reportes/exportaciones", {})
    assert queued.status_code == 303
    app.config["EXPORT_FOLDER"] = str(folder)
    run_pending(app.extensions["ruta_db"].session_factory, folder=folder,
                stalled_days=app.config["STALLED_DAYS"], now=datetime.now(UTC))
    return ("reportes.exportacion_descarga", f"{queued.headers['Location']}/descarga",
            OUR_SCHOOL)


def without_what_was_typed(text: str, url: str) -> str:
    """The page without the filter values the address carried: a search box shows back what
    was searched, which is not a leak; the same word anywhere else is."""
    for name, value in parse_qsl(urlsplit(url).query):
        if name not in TYPED:
            continue
        for form in sorted({value, html.escape(value), quote(value), quote_plus(value)},
                           key=len, reverse=True):
            text = text.replace(form, "")
    return text


@pytest.mark.parametrize("role", SECRETARIA_ROLES, ids=lambda role: role.value)
def test_no_list_of_one_secretaria_shows_anything_of_another(
        role: Role, app: Flask, two: tuple[World, list[str]], tmp_path: Path) -> None:
    world, words = two
    client = world.client(role)
    leaks, missing, visited = [], [], 0
    for endpoint, url, ours in [*listing_pages(world),
                                  queued_workbook(app, client, tmp_path / "exportaciones")]:
        roles = allowed_roles(app, endpoint)
        if roles is not None and role not in roles:
            continue
        response = client.get(url)
        assert response.status_code == 200, f"{role.value} {url}: {response.status_code}"
        text = without_what_was_typed(readable(response), url)
        response.close()  # a download is an open file until then
        visited += 1
        found = [word for word in words if re.search(re.escape(word), text, re.IGNORECASE)]
        if found:
            leaks.append(f"{url} shows {found}")
        if ours is not None and ours not in text:
            missing.append(f"{url} lacks {ours!r}")
    assert leaks == [], f"{role.value} sees the other Secretaría: " + "; ".join(leaks)
    assert missing == [], f"{role.value}, Secretaría X's own rows missing: " + "; ".join(missing)
    assert visited >= 15
