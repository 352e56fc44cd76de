"""«Estancadas», case by case: a Ruta that owes the Secretaría something and has had no
transition and no report sent for more than the threshold (30 days here)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from workflow.consolidado.consolidate import Filters, SchoolRow, consolidate
from workflow.consolidado.stalled import (
    OWES_ANSWERS,
    OWES_PMI,
    OWES_RETURNED_REPORT,
    OWES_SELF_ASSESSMENT,
)
from workflow.horizontes.models import FollowUpCheckpoint, HorizonCalendar
from workflow.models import Ruta, RutaTransition, Secretaria, User
from workflow.roles import Role
from workflow.seguimiento.models import FollowUpReport, ReportStatus
from workflow.states import State

NOW = datetime(2024, 9, 2, 15, 0, tzinfo=UTC)


class Scene:
    """Rutas of one Secretaría whose horizon has two checkpoints: 61 and 21 days before
    ``now``."""

    def __init__(self, db: Session, make: Factory, secretaria: Secretaria,
                 now: datetime = NOW) -> None:
        self.db, self.make, self.secretaria, self.now = db, make, secretaria, now
        calendar = HorizonCalendar(secretaria_id=secretaria.id, horizon_start_year=2024,
                                   horizon_end_year=2026)
        db.add(calendar)
        db.flush()
        self.checkpoints = [FollowUpCheckpoint(calendar_id=calendar.id, name=name, due_on=day)
                            for name, day in (("Primer corte", self.day(61)),
                                              ("Segundo corte", self.day(21)))]
        db.add_all(self.checkpoints)
        db.flush()

    def ago(self, days: int) -> datetime:
        return self.now - timedelta(days=days)

    def day(self, days: int) -> date:
        return (self.now - timedelta(days=days)).date()

    def ruta(self, name: str, state: State, changed_days: int) -> Ruta:
        ruta = self.make.ruta(self.make.school(self.secretaria, name=name), state)
        ruta.state_changed_at = self.ago(changed_days)
        self.db.flush()
        return ruta

    def transition(self, ruta: Ruta, trigger: str, days: int) -> None:
        self.db.add(RutaTransition(ruta=ruta, trigger=trigger, from_state=State.EN_REVISION,
                                   to_state=ruta.state, at=self.ago(days),
                                   observations="Ver las observaciones."))
        self.db.flush()

    def report(self, ruta: Ruta, checkpoint: int, days: int,
               status: ReportStatus = ReportStatus.ENVIADO,
               resent_days: int | None = None) -> None:
        self.db.add(FollowUpReport(
            ruta_id=ruta.id, checkpoint_id=self.checkpoints[checkpoint].id, status=status,
            submitted_at=self.ago(days), submissions=1,
            last_submitted_at=self.ago(resent_days if resent_days is not None else days)))
        self.db.flush()


def build(db: Session, make: Factory, now: datetime = NOW) -> tuple[User, dict[str, Ruta]]:
    secretaria = make.secretaria()
    scene = Scene(db, make, secretaria, now)
    rutas = {
        "borrador viejo": scene.ruta("Borrador viejo", State.BORRADOR, 40),
        "borrador devuelto hace poco": scene.ruta("Borrador devuelto", State.BORRADOR, 90),
        "formulando": scene.ruta("Formulando", State.AUTOEVALUACION_ENVIADA, 31),
        "devuelta sin responder": scene.ruta("Devuelta", State.AUTOEVALUACION_ENVIADA, 45),
        "borrador de 30 días": scene.ruta("Treinta días", State.BORRADOR, 30),
        "pmi enviado": scene.ruta("PMI enviado", State.PMI_FORMULADO, 100),
        "en revisión": scene.ruta("En revisión", State.EN_REVISION, 100),
        "aprobada": scene.ruta("Aprobada", State.APROBADO, 100),
        "cerrada": scene.ruta("Cerrada", State.CERRADO, 400),
        "sin informes": scene.ruta("Sin informes", State.SEGUIMIENTO, 200),
        "informe reciente": scene.ruta("Informe reciente", State.SEGUIMIENTO, 200),
        "al día": scene.ruta("Al día", State.SEGUIMIENTO, 200),
        "informe devuelto": scene.ruta("Informe devuelto", State.SEGUIMIENTO, 200),
    }
    scene.transition(rutas["borrador devuelto hace poco"], "devolver", 10)
    scene.transition(rutas["devuelta sin responder"], "devolver", 45)
    # Owes the second report, but sent the first one five days ago (late): it moves.
    scene.report(rutas["informe reciente"], 0, 5)
    # Both reports sent, the last one 40 days ago: owes nothing, never estancada.
    scene.report(rutas["al día"], 0, 62)
    scene.report(rutas["al día"], 1, 40)
    # Both sent; the first returned and not sent again for 45 days.
    scene.report(rutas["informe devuelto"], 0, 70, ReportStatus.DEVUELTO, resent_days=45)
    scene.report(rutas["informe devuelto"], 1, 50)
    # Another Secretaría's stalled Ruta never shows.
    tolima = make.secretaria("Secretaría de Educación del Tolima", divipola="73")
    Scene(db, make, tolima, now).ruta("Tolima borrador", State.BORRADOR, 400)
    admin = make.user(Role.ADMINISTRADOR, secretaria=secretaria)
    db.commit()
    return admin, rutas


def rows_by_name(db: Session, admin: User) -> dict[str, SchoolRow]:
    data = consolidate(db, admin, Filters(), now=NOW, stalled_days=30)
    return {row.school.name: row for row in data.schools}


@pytest.mark.parametrize(("name", "stalled", "owes", "idle"), [
    ("Borrador viejo", True, OWES_SELF_ASSESSMENT, 40),
    ("Borrador devuelto", False, OWES_SELF_ASSESSMENT, 10),
    ("Formulando", True, OWES_PMI, 31),
    ("Devuelta", True, OWES_ANSWERS, 45),
    ("Treinta días", False, OWES_SELF_ASSESSMENT, 30),
    ("PMI enviado", False, "", 100),
    ("En revisión", False, "", 100),
    ("Aprobada", False, "", 100),
    ("Cerrada", False, "", 400),
    ("Sin informes", True, "2 informes de seguimiento vencidos", 200),
    ("Informe reciente", False, "un informe de seguimiento vencido", 5),
    ("Al día", False, "", 40),
    ("Informe devuelto", True, OWES_RETURNED_REPORT, 45),
])
def test_stall_definition_case_by_case(db: Session, make: Factory, name: str, stalled: bool,
                                       owes: str, idle: int) -> None:
    admin, _ = build(db, make)
    row = rows_by_name(db, admin)[name]
    assert (row.stalled, row.owes, row.idle_days) == (stalled, owes, idle)


def test_stalled_list_is_the_secretarias_only(db: Session, make: Factory) -> None:
    admin, _ = build(db, make)
    data = consolidate(db, admin, Filters(), now=NOW, stalled_days=30)
    assert sorted(row.school.name for row in data.stalled) == [
        "Borrador viejo", "Devuelta", "Formulando", "Informe devuelto", "Sin informes"]


def test_a_longer_threshold_stalls_fewer(db: Session, make: Factory) -> None:
    admin, _ = build(db, make)
    data = consolidate(db, admin, Filters(), now=NOW, stalled_days=60)
    assert [row.school.name for row in data.stalled] == ["Sin informes"]


def test_page_explains_estancada_and_sheet_lists_them(app: Flask, web: WebClient, db: Session,
                                                      make: Factory) -> None:
    # The page uses the clock: the scene is built around it.
    admin, _ = build(db, make, datetime.now(UTC) - timedelta(hours=1))
    web.login(admin.email)
    page = web.get("/reportes/").get_data(as_text=True)
    assert "debe algo a la Secretaría" in page
    assert "Las Rutas que esperan a la Secretaría (PMI enviado o en revisión)" in page
    assert ("Borrador viejo</a> (Autoevaluación en curso; debe el envío de la autoevaluación; "
            "40 días sin movimiento)") in page
    assert "PMI enviado</a> (" not in page
    sheet = web.get("/reportes/consolidado.csv?hoja=estancadas").get_data(as_text=True)
    lines = sheet.removeprefix("\ufeff").splitlines()
    assert lines[0] == ("Código DANE;Institución;Zona;Comuna o corregimiento;Estado;Debe;"
                        "Días sin transición ni informe")
    # The page reads the clock an hour after the scene's moment: «Treinta días» is past it.
    assert sorted(line.split(";")[1] for line in lines[1:]) == [
        "Borrador viejo", "Devuelta", "Formulando", "Informe devuelto", "Sin informes",
        "Treinta días"]
