"""E20: a member taken off the equipo de gestión stops reading the school at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import Factory
from tests.evidencias.test_evidence import PDF_BYTES, folder, rector_with_ruta, upload
from workflow.autoevaluacion import team as auto_team
from workflow.cuentas import accounts
from workflow.errors import InvalidInput
from workflow.evidencias.models import EvidenceFile
from workflow.models import Ruta, User
from workflow.roles import Role

__all__ = ["folder"]  # a fixture


def add_docente(db: Session, ruta: Any, rector: User) -> auto_team.TeamMember:
    member = auto_team.add_member(db, ruta, auto_team.MemberData(
        name="Wilson Oyola", email="docente@prueba.co", estamento="docente",
        area_ids=[str(ruta.catalog.areas[0].id)]), actor=rector, invite=False)
    db.commit()
    return member


def status(web: Any, url: str) -> int:
    response = web.client.get(url)
    response.close()  # a download holds its file open until closed
    return int(response.status_code)


def test_removed_member_loses_pages_and_evidence_until_added_back(
        db: Session, make: Factory, web_factory: Any, folder: Path) -> None:
    ruta, rector = rector_with_ruta(db, make)
    account = make.user(Role.EQUIPO, school=ruta.school, email="docente@prueba.co")
    member = add_docente(db, ruta, rector)
    rector_web, member_web = web_factory(), web_factory()
    rector_web.login(rector.email)
    assert upload(rector_web, ruta, ruta.catalog.componentes[0].id,
                  PDF_BYTES).status_code == 302
    stored = db.scalars(select(EvidenceFile)).one()
    member_web.login(account.email)
    evidence_url = f"/rutas/{ruta.id}/evidencias/{stored.id}"
    school_page = f"/rutas/{ruta.id}/autoevaluacion"
    assert member_web.client.get(school_page).status_code == 200
    assert status(member_web, evidence_url) == 200

    confirm_url = f"{school_page}/equipo/{member.id}/quitar"
    confirm = rector_web.get(confirm_url).get_data(as_text=True)
    assert "Su cuenta (docente@prueba.co) queda desactivada" in confirm
    assert rector_web.post(confirm_url, {"version": "1"}).status_code == 302

    for url in (school_page, evidence_url, f"/rutas/{ruta.id}"):
        response = member_web.client.get(url)
        response.close()
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/ingresar"), url
    assert member_web.login(account.email).status_code == 401
    db.expire_all()
    closed = db.get(User, account.id)
    assert (closed.active, closed.left_team_at is not None) == (False, True)

    # The rector adding the person again (after «Deshacer» ran out) reopens the account.
    add_docente(db, ruta, rector)
    assert member_web.login(account.email).status_code == 302
    assert status(member_web, evidence_url) == 200


def test_undo_reopens_the_account_and_an_administrators_deactivation_stays(
        db: Session, make: Factory) -> None:
    ruta, rector = rector_with_ruta(db, make)
    account = make.user(Role.EQUIPO, school=ruta.school, email="docente@prueba.co")
    removed = auto_team.remove_member(db, ruta, add_docente(db, ruta, rector), actor=rector)
    assert account.active is False
    back = auto_team.restore_member(db, ruta, removed, actor=rector)
    assert (account.active, account.left_team_at) == (True, None)

    auto_team.remove_member(db, ruta, back, actor=rector)
    admin = make.user(Role.ADMINISTRADOR)
    accounts.set_user_active(db, account, actor=admin, active=False)
    db.commit()
    with pytest.raises(InvalidInput) as refused:
        add_docente(db, ruta, rector)
    assert refused.value.errors["email"] == [
        "La cuenta de ese correo está desactivada: pida a la Secretaría que la reactive."]
    db.rollback()
    assert db.get(User, account.id).active is False


def test_a_member_still_on_another_team_of_the_school_keeps_the_account(
        db: Session, make: Factory) -> None:
    ruta, rector = rector_with_ruta(db, make)
    account = make.user(Role.EQUIPO, school=ruta.school, email="docente@prueba.co")
    member = add_docente(db, ruta, rector)
    other = Ruta(school=ruta.school, horizon_start_year=2027, horizon_end_year=2029,
                 catalog_id=ruta.catalog_id)
    db.add(other)
    db.flush()
    add_docente(db, other, rector)
    assert auto_team.removal_effects(db, ruta, member).closes_account is False
    auto_team.remove_member(db, ruta, member, actor=rector)
    assert account.active is True


def test_a_head_request_only_reads_the_removal_page(db: Session, make: Factory,
                                                   web: Any) -> None:
    # Found by the accessibility crawl, which asks with HEAD whether a link is a download:
    # the GET-and-POST views ran their POST branch for a HEAD, which CSRF does not check.
    ruta, rector = rector_with_ruta(db, make)
    member = add_docente(db, ruta, rector)
    web.login(rector.email)
    response = web.client.head(f"/rutas/{ruta.id}/autoevaluacion/equipo/{member.id}/quitar")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    db.expire_all()
    assert db.get(auto_team.TeamMember, member.id) is not None
