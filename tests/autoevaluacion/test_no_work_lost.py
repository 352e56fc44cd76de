"""The autoevaluación never loses work: files saved with the proceso form and counted as
evidence, versioned valoraciones and team members (409 with both), one member per form, and a
removal that is confirmed first and can be undone."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from blueprints.evidencias import FORM_FILES_ALLOWANCE, FORM_OVERHEAD
from tests.conftest import Factory, WebClient
from tests.evidencias.test_evidence import (
    EXECUTABLE_BYTES,
    PDF_BYTES,
    ExplodingBody,
    stored_files,
)
from workflow.autoevaluacion import evidence as auto_evidence
from workflow.autoevaluacion import ratings
from workflow.autoevaluacion import team as auto_team
from workflow.autoevaluacion.models import Estamento, TeamMember, Valoracion
from workflow.autoevaluacion.perfil import rated_items
from workflow.errors import NotEditable, StaleEdit
from workflow.evidencias.models import EvidenceFile
from workflow.evidencias.storage import Limits, LocalStorage
from workflow.models import OutboxMessage, Ruta, User, utcnow
from workflow.roles import Role
from workflow.states import State


def text_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


class School:
    """A Ruta in borrador with the small catalog, its rector, and a complete equipo."""

    def __init__(self, db: Session, make: Factory, state: State = State.BORRADOR) -> None:
        self.db = db
        self.catalog = make.catalog()
        self.ruta = make.ruta(state=state, catalog=self.catalog)
        self.rector = make.user(Role.RECTOR, school=self.ruta.school)

    def componente(self, code: str) -> Any:
        return next(c for c in self.catalog.componentes if c.code == code)

    def proceso(self, code: str) -> Any:
        return next(p for a in self.catalog.areas for p in a.procesos if p.code == code)

    def area(self, code: str) -> Any:
        return next(a for a in self.catalog.areas if a.code == code)

    def url(self, path: str = "") -> str:
        return f"/rutas/{self.ruta.id}/autoevaluacion{path}"

    def entries(self, values: dict[str, tuple[str, str]], versions: dict[str, int] | None = None
                ) -> dict[int, ratings.RatingInput]:
        return {self.componente(code).id: ratings.RatingInput(
            level, evidence, "", None if versions is None else versions.get(code, 0))
            for code, (level, evidence) in values.items()}


def form_of(school: School, values: dict[str, tuple[str, str, str]],
            versions: dict[str, int] | None = None) -> dict[str, Any]:
    """The proceso form as the page posts it: (level, evidence, comments) per code."""
    data: dict[str, Any] = {"componente": []}
    for code, (level, evidence, comments) in values.items():
        cid = school.componente(code).id
        data["componente"].append(str(cid))
        data[f"nivel-{cid}"] = level
        data[f"evidencia-{cid}"] = evidence
        data[f"comentario-{cid}"] = comments
        if versions is not None:
            data[f"version-{cid}"] = str(versions.get(code, 0))
    return data


def post_proceso(web: WebClient, school: School, proceso_code: str, data: dict[str, Any],
                 files: dict[str, tuple[bytes, str]] | None = None) -> Any:
    fields: dict[str, Any] = {"csrf_token": web.token}
    for name, value in data.items():
        fields[name] = value
    for code, (content, filename) in (files or {}).items():
        fields[f"archivo-{school.componente(code).id}"] = FileStorage(
            io.BytesIO(content), filename=filename, content_type="application/octet-stream")
    # encode_multipart takes one value per name: the componente list goes as a MultiDict.
    multi = MultiDict()
    for name, value in fields.items():
        for item in (value if isinstance(value, list) else [value]):
            multi.add(name, item)
    boundary, body = encode_multipart(multi)
    return web.client.post(school.url(f"/procesos/{school.proceso(proceso_code).id}"),
                           data=body,
                           content_type=f'multipart/form-data; boundary="{boundary}"')


@pytest.fixture
def folder(app: Flask, tmp_path: Path) -> Path:
    path = tmp_path / "evidencias"
    app.config["EVIDENCE_FOLDER"] = str(path)
    return path


# --- an attached file is evidence ---------------------------------------------------------


def test_missing_items_file_counts_as_evidence(db: Session, make: Factory,
                                               tmp_path: Path) -> None:
    school = School(db, make)
    make.completed_self_assessment(school.ruta)
    row = db.scalars(select(Valoracion).where(
        Valoracion.componente_id == school.componente("DIR.2.1").id)).one()
    row.evidence = ""
    db.flush()
    before = [item.message for item in ratings.missing_items(db, school.ruta)]
    assert before == ["DIR.2.1 Consejo directivo: valorado en 3, le falta la evidencia."]

    auto_evidence.attach_to_valoracion(
        db, LocalStorage(tmp_path), school.ruta, componente_id=row.componente_id,
        actor=school.rector, filename="acta.pdf", stream=io.BytesIO(PDF_BYTES),
        limits=Limits())

    assert ratings.missing_items(db, school.ruta) == []
    item = next(i for i in rated_items(db, school.ruta) if i.code == "DIR.2.1")
    assert (item.evidence, item.files, item.has_evidence) == ("", ("acta.pdf",), True)


def test_save_proceso_with_file_reports_no_missing_evidence(db: Session, make: Factory,
                                                            tmp_path: Path) -> None:
    school = School(db, make)
    saved = auto_evidence.save_proceso_with_files(
        db, LocalStorage(tmp_path / "blobs"), school.ruta, school.proceso("DIR.1"),
        school.entries({"DIR.1.1": ("3", ""), "DIR.1.2": ("4", "")}),
        {school.componente("DIR.1.1").id: auto_evidence.Upload("acta.pdf",
                                                               io.BytesIO(PDF_BYTES))},
        actor=school.rector, limits=Limits())
    assert [c.code for c in saved.result.missing_evidence] == ["DIR.1.2"]
    assert [f.display_name for f in saved.files] == ["acta.pdf"]
    assert len(stored_files(tmp_path / "blobs")) == 1


def test_save_proceso_with_files_refused_file_deletes_every_stored_blob(
        db: Session, make: Factory, tmp_path: Path) -> None:
    school = School(db, make)
    with pytest.raises(auto_evidence.FilesRefused) as refused:
        auto_evidence.save_proceso_with_files(
            db, LocalStorage(tmp_path / "blobs"), school.ruta, school.proceso("DIR.1"),
            school.entries({"DIR.1.1": ("3", ""), "DIR.1.2": ("2", "")}),
            {school.componente("DIR.1.1").id: auto_evidence.Upload("acta.pdf",
                                                                   io.BytesIO(PDF_BYTES)),
             school.componente("DIR.1.2").id: auto_evidence.Upload(
                 "programa.pdf", io.BytesIO(EXECUTABLE_BYTES))},
            actor=school.rector, limits=Limits())
    one, two = (auto_evidence.file_field(school.componente(code).id)
                for code in ("DIR.1.1", "DIR.1.2"))
    assert refused.value.status == 422
    assert refused.value.errors[two][0].startswith("DIR.1.2: no se adjuntó «programa.pdf».")
    assert refused.value.errors[two][0].endswith("Vuelva a elegir el archivo.")
    assert refused.value.errors[one] == [
        "«acta.pdf» no se guardó porque el formulario tenía errores. Vuelva a elegir el "
        "archivo."]
    assert stored_files(tmp_path / "blobs") == []


# --- versioned valoraciones ---------------------------------------------------------------


def test_save_proceso_version_goes_up_only_when_the_row_changes(db: Session,
                                                                make: Factory) -> None:
    school = School(db, make)
    proceso = school.proceso("DIR.1")
    ratings.save_proceso(db, school.ruta, proceso,
                         school.entries({"DIR.1.1": ("2", ""), "DIR.1.2": ("1", "")}, {}),
                         actor=school.rector)
    ratings.save_proceso(db, school.ruta, proceso,
                         school.entries({"DIR.1.1": ("3", "Acta"), "DIR.1.2": ("1", "")},
                                        {"DIR.1.1": 1, "DIR.1.2": 1}),
                         actor=school.rector)
    versions = {row.componente.code: row.version for row in db.scalars(select(Valoracion))}
    assert versions == {"DIR.1.1": 2, "DIR.1.2": 1}


def test_save_proceso_stale_version_raises_and_saves_nothing(db: Session,
                                                             make: Factory) -> None:
    school = School(db, make)
    proceso = school.proceso("DIR.1")
    ratings.save_proceso(db, school.ruta, proceso, school.entries({"DIR.1.1": ("2", "")}, {}),
                         actor=school.rector)
    # A form drawn before that save: DIR.1.1 had no row (0).
    with pytest.raises(StaleEdit):
        ratings.save_proceso(db, school.ruta, proceso,
                             school.entries({"DIR.1.1": ("4", "Otra"),
                                             "DIR.1.2": ("3", "Acta")}, {}),
                             actor=school.rector)
    levels = {row.componente.code: row.level for row in db.scalars(select(Valoracion))}
    assert levels == {"DIR.1.1": 2}


def test_save_proceso_over_a_row_made_by_a_file_is_not_stale(db: Session, make: Factory,
                                                              tmp_path: Path) -> None:
    school = School(db, make)
    componente_id = school.componente("DIR.1.1").id
    # Someone attaches a file to an unrated componente: a blank valoración appears.
    auto_evidence.attach_to_valoracion(
        db, LocalStorage(tmp_path / "blobs"), school.ruta, componente_id=componente_id,
        actor=school.rector, filename="acta.pdf", stream=io.BytesIO(PDF_BYTES),
        limits=Limits())
    ratings.save_proceso(db, school.ruta, school.proceso("DIR.1"),
                         school.entries({"DIR.1.1": ("3", "")}, {}), actor=school.rector)
    row = db.scalars(select(Valoracion)).one()
    assert (row.level, row.version) == (3, 2)


# --- the proceso form, through HTTP -------------------------------------------------------


def test_proceso_form_saves_values_and_file_in_one_post(db: Session, make: Factory,
                                                        web: WebClient, folder: Path) -> None:
    school = School(db, make)
    db.commit()
    web.login(school.rector.email)
    page = text_of(web.get(school.url("/areas/DIR")))
    assert 'enctype="multipart/form-data"' in page
    assert f'name="archivo-{school.componente("DIR.1.1").id}"' in page
    response = post_proceso(web, school, "DIR.1", form_of(school, {
        "DIR.1.1": ("3", "", "Revisado"), "DIR.1.2": ("2", "", "")}, {}),
        {"DIR.1.1": (PDF_BYTES, "Acta del consejo.pdf")})
    assert response.status_code == 302
    added = db.scalars(select(EvidenceFile)).one()
    valoracion = db.get(Valoracion, added.valoracion_id)
    assert (valoracion.componente_id, valoracion.level, valoracion.comments) == (
        school.componente("DIR.1.1").id, 3, "Revisado")
    page = text_of(web.get(school.url("/areas/DIR")))
    assert "Se adjuntó «Acta del consejo.pdf»." in page
    assert f'id="evidencia-{school.componente("DIR.1.1").id}-falta"' not in page
    evidence_missing = [item.message for item in ratings.missing_items(
        db, db.get(Ruta, school.ruta.id)) if item.kind == "evidence"]
    assert evidence_missing == []


def test_proceso_form_too_large_file_keeps_every_value(app: Flask, db: Session,
                                                       make: Factory, web: WebClient,
                                                       folder: Path) -> None:
    app.config["EVIDENCE_MAX_BYTES"] = 1000
    school = School(db, make)
    db.commit()
    web.login(school.rector.email)
    web.get(school.url("/areas/DIR"))
    response = post_proceso(web, school, "DIR.1", form_of(school, {
        "DIR.1.1": ("4", "Plan de mejoramiento 2023", "Lo revisó el consejo"),
        "DIR.1.2": ("2", "Informe de gestión", "")}, {}),
        {"DIR.1.1": (PDF_BYTES + b"%" * 2000, "escaneo-grande.pdf"),
         "DIR.1.2": (PDF_BYTES, "informe.pdf")})
    assert response.status_code == 413
    page = text_of(response)
    one, two = (school.componente(code).id for code in ("DIR.1.1", "DIR.1.2"))
    assert "Plan de mejoramiento 2023</textarea>" in page
    assert "Lo revisó el consejo</textarea>" in page
    assert "Informe de gestión</textarea>" in page
    assert re.search(rf'name="nivel-{one}" value="4" checked', page)
    assert re.search(rf'name="nivel-{two}" value="2" checked', page)
    assert f'<a href="#archivo-{one}">DIR.1.1: no se adjuntó «escaneo-grande.pdf». El archivo ' \
        "supera el límite" in page
    assert "«informe.pdf» no se guardó porque el formulario tenía errores. Vuelva a elegir " \
        "el archivo." in page
    assert db.scalar(select(func.count()).select_from(Valoracion)) == 0
    assert db.scalar(select(func.count()).select_from(EvidenceFile)) == 0
    assert stored_files(folder) == []


def test_proceso_form_bad_level_links_to_its_field_and_keeps_values(
        db: Session, make: Factory, web: WebClient, folder: Path) -> None:
    school = School(db, make)
    db.commit()
    web.login(school.rector.email)
    web.get(school.url("/areas/DIR"))
    response = post_proceso(web, school, "DIR.1", form_of(school, {
        "DIR.1.1": ("7", "Acta 4", ""), "DIR.1.2": ("2", "Informe", "")}, {}),
        {"DIR.1.2": (PDF_BYTES, "informe.pdf")})
    assert response.status_code == 422
    page = text_of(response)
    one = school.componente("DIR.1.1").id
    assert f'<a href="#nivel-{one}">«DIR.1.1 Misión, visión y principios»: el nivel debe' in page
    assert f'id="nivel-{one}"' in page
    assert "Acta 4</textarea>" in page
    assert "«informe.pdf» no se guardó" in page
    assert stored_files(folder) == []


def test_proceso_form_stale_is_409_with_both_and_saves_again(
        db: Session, make: Factory, web_factory: Any, folder: Path) -> None:
    school = School(db, make)
    db.commit()
    first, second = web_factory(), web_factory()
    for client in (first, second):
        client.login(school.rector.email)
        client.get(school.url("/areas/DIR"))
    one = school.componente("DIR.1.1").id
    assert post_proceso(first, school, "DIR.1", form_of(school, {
        "DIR.1.1": ("3", "Acta de la primera pestaña", ""),
        "DIR.1.2": ("", "", "")}, {})).status_code == 302

    response = post_proceso(second, school, "DIR.1", form_of(school, {
        "DIR.1.1": ("2", "Lo de la segunda pestaña", ""),
        "DIR.1.2": ("1", "", "")}, {}))
    assert response.status_code == 409
    page = text_of(response)
    assert "Otra persona guardó cambios mientras usted editaba" in page
    assert "Lo de la segunda pestaña</textarea>" in page
    assert f'id="evidencia-{one}-guardado"' in page and "Acta de la primera pestaña" in page
    assert f'id="nivel-{one}-guardado"' in page and "3 · Apropiación" in page
    assert f'name="version-{one}" value="1"' in page
    db.expire_all()
    assert db.scalars(select(Valoracion.evidence)).all() == ["Acta de la primera pestaña"]

    # Saving again from the 409 page (it carries the new versions) works.
    second.token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = post_proceso(second, school, "DIR.1", form_of(school, {
        "DIR.1.1": ("2", "Combinado", ""), "DIR.1.2": ("1", "", "")},
        {"DIR.1.1": 1, "DIR.1.2": 0}))
    assert response.status_code == 302
    db.expire_all()
    assert db.scalars(select(Valoracion.level).where(Valoracion.componente_id == one)).one() == 2


def test_proceso_form_without_csrf_is_400_and_saves_nothing(db: Session, make: Factory,
                                                             web: WebClient,
                                                             folder: Path) -> None:
    school = School(db, make)
    db.commit()
    web.login(school.rector.email)
    web.token = "no-es-el-token"
    response = post_proceso(web, school, "DIR.1", form_of(school, {"DIR.1.1": ("3", "", "")}),
                            {"DIR.1.1": (PDF_BYTES, "acta.pdf")})
    assert response.status_code == 400
    assert db.scalar(select(func.count()).select_from(Valoracion)) == 0
    assert stored_files(folder) == []


def test_proceso_form_body_over_the_form_limit_is_413_before_reading(
        app: Flask, db: Session, make: Factory, web: WebClient, folder: Path) -> None:
    app.config["EVIDENCE_MAX_BYTES"] = 1000
    school = School(db, make)
    db.commit()
    web.login(school.rector.email)
    response = web.client.post(
        school.url(f"/procesos/{school.proceso('DIR.1').id}"),
        input_stream=ExplodingBody(1000 * FORM_FILES_ALLOWANCE + FORM_OVERHEAD + 1),
        content_type="multipart/form-data; boundary=limite",
        headers={"X-CSRFToken": web.token})
    assert response.status_code == 413
    assert "no se guardó nada" in text_of(response)


def test_area_page_time_has_a_single_period(db: Session, make: Factory,
                                            web: WebClient) -> None:
    school = School(db, make)
    ratings.save_proceso(db, school.ruta, school.proceso("DIR.1"),
                         school.entries({"DIR.1.1": ("2", "")}), actor=school.rector)
    db.commit()
    web.login(school.rector.email)
    page = text_of(web.get(school.url("/areas/DIR")))
    saved_line = re.search(r"Guardado por [^<]*</p>", page).group(0)
    assert saved_line.endswith("m.</p>") and ".." not in saved_line


# --- the team -----------------------------------------------------------------------------


def member_form(school: School, token: str, email: str = "nuevo@prueba.co") -> dict[str, Any]:
    return {"name": "Luz Dary Prada", "email": email, "estamento": "docente",
            "areas": [str(school.area("ACA").id)], "form_token": token}


def test_add_member_posted_twice_adds_one_and_invites_once(db: Session, make: Factory,
                                                           web: WebClient) -> None:
    school = School(db, make)
    db.commit()
    web.login(school.rector.email)
    page = text_of(web.get(school.url("/equipo")))
    token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    assert web.post(school.url("/equipo"), member_form(school, token)).status_code == 302
    again = web.post(school.url("/equipo"), member_form(school, token), follow_redirects=True)
    assert again.status_code == 200
    assert ("Luz Dary Prada ya hace parte del equipo de gestión: el formulario llegó dos veces "
            "y se agregó una sola vez.") in text_of(again)
    assert db.scalar(select(func.count()).select_from(TeamMember)) == 1
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_add_member_refused_keeps_its_token_and_values(db: Session, make: Factory,
                                                       web: WebClient) -> None:
    school = School(db, make)
    db.commit()
    web.login(school.rector.email)
    page = text_of(web.get(school.url("/equipo")))
    token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    response = web.post(school.url("/equipo"), member_form(school, token, "no-es-correo"))
    assert response.status_code == 422
    page = text_of(response)
    assert f'name="form_token" value="{token}"' in page
    assert '<a href="#email">Escriba un correo electrónico válido' in page
    assert 'value="Luz Dary Prada"' in page
    # Corrected, the same token adds the member.
    assert web.post(school.url("/equipo"), member_form(school, token)).status_code == 302
    assert db.scalar(select(func.count()).select_from(TeamMember)) == 1


def test_member_areas_stale_form_is_409_with_both(db: Session, make: Factory,
                                                  web: WebClient) -> None:
    school = School(db, make)
    member = make.add_team(school.ruta, (Estamento.DOCENTE,))[0]
    db.commit()
    web.login(school.rector.email)
    web.get(school.url("/equipo"))
    url = school.url(f"/equipo/{member.id}/areas")
    assert web.post(url, {"areas": [str(school.area("DIR").id)],
                          "version": "1"}).status_code == 302
    response = web.post(url, {"areas": [str(school.area("ACA").id)], "version": "1"})
    assert response.status_code == 409
    page = text_of(response)
    assert 'id="areas-guardado"' in page and "Gestión directiva" in page
    assert re.search(rf'value="{school.area("ACA").id}" id="areas-{member.id}" checked|'
                     rf'value="{school.area("ACA").id}" checked', page)
    assert 'name="version" value="2"' in page
    db.expire_all()
    assert [area.code for area in db.get(TeamMember, member.id).areas] == ["DIR"]


def test_remove_member_asks_first_then_undo_restores_the_areas(db: Session, make: Factory,
                                                               web: WebClient) -> None:
    school = School(db, make)
    account = make.user(Role.EQUIPO, school=school.ruta.school, email="docente@prueba.co")
    member = auto_team.add_member(db, school.ruta, auto_team.MemberData(
        name="Wilson Oyola", email="docente@prueba.co", estamento="docente",
        area_ids=[str(school.area("ACA").id), str(school.area("DIR").id)]),
        actor=school.rector, invite=False)
    db.commit()
    web.login(school.rector.email)
    team_page = text_of(web.get(school.url("/equipo")))
    confirm_url = school.url(f"/equipo/{member.id}/quitar")
    assert f'href="{confirm_url}">Quitar a Wilson Oyola del equipo</a>' in team_page
    confirm = text_of(web.get(confirm_url))
    assert "Deja de tener asignadas las áreas: Gestión directiva, Gestión académica." in confirm
    assert "Su cuenta (docente@prueba.co) queda desactivada: ya no podrá ingresar" in confirm
    assert "Sí, quitar a Wilson Oyola" in confirm and "Cancelar" in confirm
    assert db.get(TeamMember, member.id) is not None  # the GET removes nothing

    removed = web.post(confirm_url, {"version": "1"}, follow_redirects=True)
    assert "Wilson Oyola ya no hace parte del equipo de gestión." in text_of(removed)
    assert "Deshacer: volver a agregar a Wilson Oyola" in text_of(removed)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(TeamMember)) == 0

    undone = web.post(school.url("/equipo/deshacer"), follow_redirects=True)
    assert ("Wilson Oyola volvió al equipo de gestión, con sus áreas (Gestión directiva, "
            "Gestión académica).") in text_of(undone)
    back = db.scalars(select(TeamMember)).one()
    assert ([area.code for area in back.areas], back.user_id) == (["DIR", "ACA"], account.id)
    assert "Deshacer:" not in text_of(web.get(school.url("/equipo")))


def test_remove_member_after_submission_is_refused_when_the_team_falls_short(
        db: Session, make: Factory) -> None:
    school = School(db, make, state=State.AUTOEVALUACION_ENVIADA)
    members = make.add_team(school.ruta)
    effects = auto_team.removal_effects(db, school.ruta, members[0])
    assert effects.refused is not None and effects.new_gaps
    with pytest.raises(NotEditable):
        auto_team.remove_member(db, school.ruta, members[0], actor=school.rector)
    assert db.scalar(select(func.count()).select_from(TeamMember)) == 4


def test_remove_member_in_borrador_warns_of_the_gap_and_allows_it(db: Session,
                                                                  make: Factory) -> None:
    school = School(db, make)
    members = make.add_team(school.ruta)
    effects = auto_team.removal_effects(db, school.ruta, members[0])
    assert effects.refused is None
    assert effects.new_gaps == [
        "El equipo de gestión tiene 3 integrantes y necesita al menos 4: agregue a los que "
        "faltan en la página del equipo (usted también cuenta si se agrega)."]


def test_remove_member_refused_shows_why_on_the_confirmation_page(
        db: Session, make: Factory, web: WebClient) -> None:
    school = School(db, make, state=State.AUTOEVALUACION_ENVIADA)
    member = make.add_team(school.ruta)[0]
    db.commit()
    web.login(school.rector.email)
    url = school.url(f"/equipo/{member.id}/quitar")
    page = text_of(web.get(url))
    assert "la autoevaluación ya se envió con este equipo" in page
    assert "Sí, quitar" not in page
    response = web.post(url, {"version": "1"})
    assert response.status_code == 409
    assert "No se quitó a Integrante 1 del equipo" in text_of(response)
    assert db.scalar(select(func.count()).select_from(TeamMember)) == 4


def test_remove_member_from_a_stale_confirmation_is_409(db: Session, make: Factory,
                                                        web: WebClient) -> None:
    school = School(db, make)
    member = make.add_team(school.ruta, (Estamento.DOCENTE,))[0]
    db.commit()
    web.login(school.rector.email)
    web.get(school.url("/equipo"))
    assert web.post(school.url(f"/equipo/{member.id}/areas"),
                    {"areas": [str(school.area("ACA").id)], "version": "1"}).status_code == 302
    response = web.post(school.url(f"/equipo/{member.id}/quitar"), {"version": "1"})
    assert response.status_code == 409
    page = text_of(response)
    assert "Deja de tener asignadas el área: Gestión académica." in page
    assert 'name="version" value="2"' in page
    assert db.scalar(select(func.count()).select_from(TeamMember)) == 1


def test_restore_member_after_the_window_is_refused(db: Session, make: Factory) -> None:
    school = School(db, make)
    member = make.add_team(school.ruta, (Estamento.DOCENTE,))[0]
    long_ago = utcnow() - auto_team.UNDO_WINDOW - timedelta(minutes=1)
    removed = auto_team.remove_member(db, school.ruta, member, actor=school.rector,
                                      now=long_ago)
    with pytest.raises(NotEditable, match="Ya pasó el tiempo para deshacer"):
        auto_team.restore_member(db, school.ruta, removed, actor=school.rector)
    assert auto_team.RemovedMember.from_dict(removed.to_dict()) == removed
    assert auto_team.RemovedMember.from_dict({"name": "x"}) is None


def test_set_member_areas_stale_version_raises(db: Session, make: Factory) -> None:
    school = School(db, make)
    member = make.add_team(school.ruta, (Estamento.DOCENTE,))[0]
    auto_team.set_member_areas(db, school.ruta, member, [school.area("DIR").id],
                               actor=school.rector, expected_version=1)
    assert member.version == 2
    with pytest.raises(StaleEdit):
        auto_team.set_member_areas(db, school.ruta, member, [school.area("ACA").id],
                                   actor=school.rector, expected_version=1)


# --- error summaries and «obligatorio» ----------------------------------------------------


def test_identity_errors_link_to_their_fields_and_required_are_marked(
        db: Session, make: Factory, web: WebClient) -> None:
    school = School(db, make)
    db.commit()
    web.login(school.rector.email)
    page = text_of(web.get(school.url("/identidad")))
    assert page.count("(obligatorio)") == 7
    response = web.post(school.url("/identidad"), {"mision": "m", "vision_vigencia": "quizás"})
    assert response.status_code == 422
    page = text_of(response)
    assert page.index('id="resumen-errores"') < page.index('class="page-head"')
    assert '<a href="#mision">La misión es muy corta' in page
    assert '<a href="#vision_vigencia">La visión: elija' in page
    assert 'id="vision_vigencia"' in page


def test_team_page_by_another_user_role_is_unchanged(db: Session, make: Factory,
                                                     web: WebClient) -> None:
    school = School(db, make)
    make.add_team(school.ruta, (Estamento.DOCENTE,))
    revisor: User = make.user(Role.REVISOR, secretaria=school.ruta.school.secretaria)
    db.commit()
    web.login(revisor.email)
    page = text_of(web.get(school.url("/equipo")))
    assert "Integrante 1 del equipo" in page and "Quitar a" not in page
