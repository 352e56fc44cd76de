"""A slow link: one redirect to sign in, static files cached for a year, compressed answers.

On 400 kbps with 400 ms of latency each redirect costs about a second and every byte counts;
these tests hold the three things that make the difference.
"""

from __future__ import annotations

import gzip
import html
import re
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import brotli
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ruta import compression
from ruta.assets import IMMUTABLE, REVALIDATE, StaticHashes
from ruta.config import PROJECT_ROOT
from tests.conftest import PASSWORD, Factory, WebClient
from tests.evidencias.test_evidence import PDF_BYTES, rector_with_ruta, upload
from workflow.consolidado.export_jobs import run_pending
from workflow.evidencias.models import EvidenceFile
from workflow.models import Ruta, User
from workflow.roles import Role
from workflow.states import State

STATIC = PROJECT_ROOT / "static"
STYLESHEET = re.compile(r'<link rel="stylesheet" href="(/static/ruta\.css[^"]*)"')
CSRF_VALUE = re.compile(r'(name="csrf_token" value=")[^"]+(")')


def sign_in(web: WebClient, email: str, **extra: str) -> Any:
    web.get("/ingresar")
    return web.post("/ingresar", {"email": email, "password": PASSWORD, **extra})


def fetch(web: WebClient, url: str, **kwargs: Any) -> Any:
    """GET a static file, read it and close it (it is streamed from an open file)."""
    response = web.client.get(url, **kwargs)
    response.get_data()
    response.close()
    return response


def follow(web: WebClient, response: Any) -> Any:
    return web.get(response.headers["Location"])


# --- one redirect to sign in ------------------------------------------------------------------


@pytest.mark.parametrize(("role", "state", "home"), [
    (Role.RECTOR, State.BORRADOR, "/rutas/{ruta}"),
    (Role.EQUIPO, State.SEGUIMIENTO, "/rutas/{ruta}"),
    (Role.RECTOR, None, "/escuela/"),
    (Role.REVISOR, None, "/revision/"),
    (Role.CONSULTA, None, "/revision/"),
    (Role.ADMINISTRADOR, None, "/admin/instituciones"),
])
def test_login_redirects_once_to_the_roles_home(role: Role, state: State | None, home: str,
                                                app: Flask, db: Session, make: Factory,
                                                web: WebClient) -> None:
    school = make.school()
    ruta = make.ruta(school, state) if state is not None else None
    user = make.user(role, school=school if role.belongs_to_school else None)
    db.commit()
    expected = home.format(ruta=ruta.id if ruta else "")
    response = sign_in(web, user.email)
    assert (response.status_code, response.headers["Location"]) == (302, expected)
    landed = follow(web, response)
    assert landed.status_code == 200
    assert f"Bienvenido(a), {user.name}." in landed.get_data(as_text=True)
    # The home link of every page lands in one redirect too.
    again = web.get("/")
    assert (again.status_code, again.headers["Location"]) == (302, expected)


def test_login_of_school_with_two_rutas_in_course_lands_on_their_list(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    school = make.school()
    make.ruta(school, State.SEGUIMIENTO)
    db.add(Ruta(school=school, horizon_start_year=2027, horizon_end_year=2029,
                state=State.BORRADOR))
    rector = make.user(Role.RECTOR, school=school)
    db.commit()
    response = sign_in(web, rector.email)
    assert (response.status_code, response.headers["Location"]) == (302, "/escuela/")
    assert follow(web, response).status_code == 200


def test_login_with_next_redirects_once_there(app: Flask, db: Session, make: Factory,
                                             web: WebClient) -> None:
    school = make.school()
    ruta = make.ruta(school, State.BORRADOR)
    rector = make.user(Role.RECTOR, school=school)
    db.commit()
    response = sign_in(web, rector.email, next=f"/rutas/{ruta.id}/autoevaluacion")
    assert (response.status_code, response.headers["Location"]) == (
        302, f"/rutas/{ruta.id}/autoevaluacion")


def test_login_with_temporary_password_redirects_once_to_change_it(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    school = make.school()
    ruta = make.ruta(school, State.BORRADOR)
    rector = make.user(Role.RECTOR, school=school)
    rector.must_change_password = True
    db.commit()
    response = sign_in(web, rector.email, next=f"/rutas/{ruta.id}")
    assert (response.status_code, response.headers["Location"]) == (302, "/cuenta/contrasena")
    page = follow(web, response)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Su contraseña es temporal: elija una propia para continuar." in text
    assert f"Bienvenido(a), {rector.name}." in text
    new_password = "una frase nueva y larga"
    changed = web.post("/cuenta/contrasena", {"current": PASSWORD, "new": new_password,
                                              "confirm": new_password})
    assert (changed.status_code, changed.headers["Location"]) == (302, f"/rutas/{ruta.id}")
    assert db.scalar(select(User.must_change_password).where(User.id == rector.id)) is False


# --- static files with their hash --------------------------------------------------------------


def stylesheet_url(web: WebClient) -> str:
    found = STYLESHEET.search(web.get("/ingresar").get_data(as_text=True))
    assert found is not None
    return found.group(1)


def test_static_url_carries_the_content_hash(app: Flask, web: WebClient) -> None:
    expected = StaticHashes(STATIC).of("ruta.css")
    assert expected is not None and re.fullmatch(r"[0-9a-f]{12}", expected)
    assert stylesheet_url(web) == f"/static/ruta.css?v={expected}"


def test_static_with_current_hash_is_immutable(app: Flask, web: WebClient) -> None:
    response = fetch(web, stylesheet_url(web))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert IMMUTABLE == "public, max-age=31536000, immutable"
    assert response.get_data() == (STATIC / "ruta.css").read_bytes()


@pytest.mark.parametrize("query", ["?v=0123456789ab", ""])
def test_static_with_old_or_no_hash_is_served_revalidated(query: str, app: Flask,
                                                          web: WebClient) -> None:
    # A page rendered before a deploy still gets its stylesheet, but no browser keeps it
    # under a hash it does not have.
    response = fetch(web, f"/static/ruta.css{query}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == REVALIDATE
    assert response.get_data() == (STATIC / "ruta.css").read_bytes()


def test_static_revalidation_answers_not_modified(app: Flask, web: WebClient) -> None:
    first = fetch(web, "/static/ruta.css")
    again = fetch(web, "/static/ruta.css", headers={"If-None-Match": first.headers["ETag"]})
    assert (again.status_code, again.headers["Cache-Control"]) == (304, REVALIDATE)


def test_static_missing_file_is_404(app: Flask, web: WebClient) -> None:
    assert fetch(web, "/static/no-existe.css?v=0123456789ab").status_code == 404


def test_static_hash_follows_the_file_content(tmp_path: Path) -> None:
    sheet = tmp_path / "hoja.css"
    sheet.write_text("body { color: black; }\n", encoding="utf-8")
    hashes = StaticHashes(tmp_path)
    first = hashes.of("hoja.css")
    assert hashes.of("hoja.css") == first
    sheet.write_text("body { color: navy; }\n", encoding="utf-8")
    second = hashes.of("hoja.css")
    assert first is not None and second is not None and first != second
    assert (hashes.of("no-existe.css"), hashes.of("../hoja.css")) == (None, None)


# --- compression ---------------------------------------------------------------------------------


def without_token(page: bytes) -> str:
    """The page with its CSRF token blanked (the token carries the second it was signed)."""
    return CSRF_VALUE.sub(r"\1…\2", page.decode("utf-8"))


@pytest.mark.parametrize(("accepts", "encoding", "decompress"), [
    ("gzip", "gzip", gzip.decompress),
    ("gzip, deflate, br, zstd", "br", brotli.decompress),
])
def test_page_is_compressed_when_the_client_accepts_it(
        accepts: str, encoding: str, decompress: Any, app: Flask, db: Session, make: Factory,
        web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    sign_in(web, user.email)
    web.client.get("/revision/")  # shows the welcome once
    plain = web.client.get("/revision/")
    packed = web.client.get("/revision/", headers={"Accept-Encoding": accepts})
    assert (packed.status_code, packed.headers["Content-Encoding"]) == (200, encoding)
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert int(packed.headers["Content-Length"]) == len(packed.get_data())
    assert len(packed.get_data()) < len(plain.get_data()) / 2
    assert without_token(decompress(packed.get_data())) == without_token(plain.get_data())


def test_page_is_not_compressed_when_the_client_does_not_accept_it(
        app: Flask, web: WebClient) -> None:
    for accepts in (None, "identity"):
        headers = {"Accept-Encoding": accepts} if accepts else {}
        response = web.client.get("/ingresar", headers=headers)
        assert response.status_code == 200
        assert "Content-Encoding" not in response.headers
        assert '<label for="email">' in response.get_data(as_text=True)


def test_stylesheet_is_compressed_and_still_immutable(app: Flask, web: WebClient) -> None:
    response = fetch(web, stylesheet_url(web), headers={"Accept-Encoding": "gzip, deflate"})
    # Static files are streamed; the library streams brotli or deflate, not gzip.
    assert (response.headers["Content-Encoding"], response.headers["Cache-Control"]) == (
        "deflate", IMMUTABLE)
    assert zlib.decompress(response.get_data()) == (STATIC / "ruta.css").read_bytes()


def test_evidence_download_is_never_compressed(app: Flask, db: Session, make: Factory,
                                               web: WebClient, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    app.config["EVIDENCE_FOLDER"] = str(tmp_path / "evidencias")
    # Even if a compressible type were ever allowed as evidence, the file goes out as stored.
    monkeypatch.setattr(compression.compress, "compress_mimetypes_set",
                        {*compression.MIMETYPES, "application/pdf"})
    ruta, rector = rector_with_ruta(db, make)
    web.login(rector.email)
    upload(web, ruta, ruta.catalog.componentes[0].id, PDF_BYTES * 40, "Acta.pdf")
    added = db.scalars(select(EvidenceFile)).one()
    response = web.client.get(f"/rutas/{ruta.id}/evidencias/{added.id}",
                              headers={"Accept-Encoding": "gzip, br"})
    body = response.get_data()
    response.close()
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert (body, response.headers["Content-Length"]) == (PDF_BYTES * 40, str(len(body)))
    # The same library setting does compress a page: the exemption is what kept the file.
    page = web.client.get(f"/rutas/{ruta.id}", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"


def test_excel_export_is_not_compressed(app: Flask, db: Session, make: Factory,
                                        web: WebClient, tmp_path: Path) -> None:
    revisor = make.user(Role.REVISOR)
    make.ruta(make.school(revisor.secretaria), State.BORRADOR)
    db.commit()
    web.login(revisor.email)
    app.config["EXPORT_FOLDER"] = str(tmp_path / "exportaciones")
    queued = web.post("/reportes/exportaciones", {})
    run_pending(app.extensions["ruta_db"].session_factory, folder=tmp_path / "exportaciones",
                stalled_days=30, now=datetime.now(UTC))
    response = web.client.get(f"{queued.headers['Location']}/descarga",
                              headers={"Accept-Encoding": "gzip, br"})
    body = response.get_data()
    response.close()
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert body[:2] == b"PK"  # the zip container an xlsx is, already compressed


# --- requests per page ----------------------------------------------------------------------------

SUBRESOURCE = re.compile(
    r'<link\b[^>]*\brel="(?:stylesheet|preload|modulepreload|icon)"[^>]*\bhref="(?!data:)'
    r'|<script\b[^>]*\bsrc="[^"]+"|<img\b[^>]*\bsrc="(?!data:)[^"]+"')


def subresources(page: str) -> list[str]:
    return SUBRESOURCE.findall(page)


def test_main_rector_pages_need_at_most_three_requests(app: Flask, db: Session,
                                                       make: Factory, web: WebClient) -> None:
    ruta = make.completed_self_assessment(make.ruta(state=State.AUTOEVALUACION_ENVIADA))
    rector = make.user(Role.RECTOR, school=ruta.school)
    db.commit()
    web.login(rector.email)
    base = f"/rutas/{ruta.id}"
    counted = {}
    for url in (base, f"{base}/autoevaluacion", f"{base}/autoevaluacion/areas/DIR",
                f"{base}/pmi"):
        response = web.get(url)
        assert response.status_code == 200, url
        counted[url] = 1 + len(subresources(response.get_data(as_text=True)))
    # «Agregar un objetivo» carries the form's one-time token: the form opens without a
    # redirect (one request for the page, not two).
    plan = web.get(f"{base}/pmi").get_data(as_text=True)
    link = re.search(r'href="([^"]*tipo=objetivo[^"]*)"', plan)
    assert link is not None and "token=" in link.group(1)
    response = web.get(html.unescape(link.group(1)))
    assert response.status_code == 200
    counted["objetivo"] = 1 + len(subresources(response.get_data(as_text=True)))
    assert {url: count for url, count in counted.items() if count > 3} == {}


def test_sign_in_page_needs_at_most_three_requests(app: Flask, web: WebClient) -> None:
    page = web.get("/ingresar").get_data(as_text=True)
    found = subresources(page)
    assert found and len(found) <= 2, found
