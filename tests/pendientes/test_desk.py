"""The «Pendientes» queries: what each actor's desk lists, in which order, with which
filters, and nothing outside the actor's scope."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from tests.conftest import Factory
from tests.pendientes.helpers import Desk, build_desk
from workflow.models import Zona
from workflow.pendientes.desk import (
    Filters,
    count_pending,
    counts_by_kind,
    items_of,
    localities,
    ordered,
    pending_union,
)
from workflow.roles import Role
from workflow.seguimiento import reports as seguimiento

NOW = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)


@pytest.fixture
def desk(db: Session, make: Factory) -> Desk:
    return build_desk(db, make)


def listed(db: Session, actor, filters: Filters | None = None) -> list:  # noqa: ANN001
    rows = db.execute(ordered(pending_union(actor, filters or Filters()))).all()
    return items_of(db, rows, now=NOW)


def summary(items: list) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(item.kind, item.school.name) for item in items]


def test_a_revisor_sees_every_kind_of_the_secretaria_oldest_first(db: Session,
                                                                   desk: Desk) -> None:
    items = listed(db, desk.revisor)
    school = desk.plan.ruta.school.name
    assert summary(items) == [
        ("tomar", "Institución Educativa Rural Juntas"),
        ("revisar", "Institución Educativa San Simón"),
        ("observaciones_pmi", "Institución Educativa San Simón"),
        ("informe", school),
        ("ajuste", school),
    ]
    report = items[3]
    assert report.path == (f"/rutas/{desk.plan.ruta.id}/seguimiento/informes/"
                           f"{desk.report.id}")
    assert report.holder == desk.revisor and report.what.startswith("Informe de seguimiento «")
    # Sent on 2024-06-27 at 10:00 in Bogotá; «now» is 2025-03-03.
    assert report.days == 249
    assert items[1].since == datetime(2024, 4, 1, 15, 0, tzinfo=UTC)  # sent, not taken
    assert items[1].holder == desk.other_revisor
    assert items[2].amount == 1 and items[2].what.startswith("1 observación respondida")
    assert items[2].since == items[1].since  # the answers came back with the plan
    assert items[4].path == f"/rutas/{desk.plan.ruta.id}/ajustes/1"
    assert count_pending(db, desk.revisor) == 5


def test_mine_is_what_the_actor_holds_plus_what_nobody_holds(db: Session, desk: Desk) -> None:
    mine = Filters(mine=True)
    assert [item.kind for item in listed(db, desk.revisor, mine)] == [
        "tomar", "informe", "ajuste"]
    assert [item.kind for item in listed(db, desk.other_revisor, mine)] == [
        "tomar", "revisar", "observaciones_pmi"]
    assert count_pending(db, desk.other_revisor, mine) == 3


def test_the_administracion_also_sees_schools_without_an_activated_rector(
        db: Session, desk: Desk) -> None:
    items = listed(db, desk.admin)
    assert summary(items)[0] == ("sin_rector", "Institución Educativa Nueva Sin Rector")
    assert items[0].path == "/admin/usuarios/nuevo"
    invited = [item for item in items if item.school == desk.invited]
    assert len(invited) == 1
    assert invited[0].since == datetime(2024, 8, 5, 15, 0, tzinfo=UTC)
    assert invited[0].path == f"/admin/usuarios/{desk.invited_rector.id}/editar"
    assert counts_by_kind(db, desk.admin)["sin_rector"] == 2
    # The administración reviews nothing: its «míos» is its own work.
    assert {item.kind for item in listed(db, desk.admin, Filters(mine=True))} == {"sin_rector"}
    assert "sin_rector" not in counts_by_kind(db, desk.revisor)
    # Once the rector activates the account, the school leaves the list.
    desk.invited_rector.activated_at = NOW
    db.commit()
    assert counts_by_kind(db, desk.admin)["sin_rector"] == 1


def test_a_revisor_of_another_secretaria_and_other_roles_see_nothing(
        db: Session, make: Factory, desk: Desk) -> None:
    stranger = make.user(Role.REVISOR, secretaria=make.secretaria(
        "Secretaría de Educación del Tolima", divipola="73"))
    assert listed(db, stranger) == [] and count_pending(db, stranger) == 0
    consulta = make.user(Role.CONSULTA, secretaria=desk.revisor.secretaria)
    assert listed(db, consulta) == [] and count_pending(db, desk.plan.rector) == 0
    desk.revisor.active = False
    db.commit()
    assert count_pending(db, desk.revisor) == 0


def test_filters_by_zona_comuna_school_and_kind(db: Session, desk: Desk) -> None:
    rural = listed(db, desk.revisor, Filters(zona=Zona.RURAL))
    assert summary(rural) == [("tomar", "Institución Educativa Rural Juntas")]
    comuna = listed(db, desk.revisor, Filters(comuna="Corregimiento Juntas"))
    assert summary(comuna) == summary(rural)
    assert summary(listed(db, desk.revisor, Filters(school_query="simon"))) == [
        ("revisar", "Institución Educativa San Simón"),
        ("observaciones_pmi", "Institución Educativa San Simón")]
    assert [item.kind for item in listed(db, desk.revisor, Filters(kind="informe"))] == [
        "informe"]
    # A wildcard is a character like any other: nothing is called «%».
    assert listed(db, desk.revisor, Filters(school_query="%")) == []
    assert listed(db, desk.revisor, Filters(school_query="_" * 100)) == []
    assert ("urbana" in {zona.value for zona, _ in localities(db, desk.revisor)})
    assert [name for _, name in localities(db, desk.revisor)][:1] == ["Comuna 1"]


def test_an_acknowledged_report_and_its_answers_leave_the_desk(db: Session,
                                                              desk: Desk) -> None:
    plan, report = desk.plan, desk.report
    observation = seguimiento.add_observation(db, report, reviewer=desk.revisor,
                                              element="informe", text="Adjunte las actas.")
    seguimiento.return_report(db, report, reviewer=desk.revisor,
                              expected_version=report.version)
    db.commit()
    assert "informe" not in {item.kind for item in listed(db, desk.revisor)}
    seguimiento.answer_observation(db, report, observation.id, actor=plan.rector,
                                   response="Quedaron adjuntas.", now=NOW)
    seguimiento.submit_report(db, report, actor=plan.rector, expected_version=report.version,
                              now=NOW)
    db.commit()
    kinds = {item.kind: item for item in listed(db, desk.revisor)}
    assert kinds["informe"].what.endswith("(reenviado tras una devolución).")
    assert kinds["informe"].since == NOW
    assert kinds["observaciones_informe"].path.endswith("#observaciones")
    seguimiento.judge_observation(db, report, observation.id, reviewer=desk.revisor,
                                  resolved=True)
    seguimiento.acknowledge(db, report, reviewer=desk.revisor, expected_version=report.version)
    db.commit()
    assert {item.kind for item in listed(db, desk.revisor)} == {
        "tomar", "revisar", "observaciones_pmi", "ajuste"}
