"""The autoevaluación window (``workflow.autoevaluacion.window``): sending is held to it the first
time, a returned Ruta is not, a prórroga moves the closing day for one school, a school that
joined late gets its own PMI deadline, and a prórroga that does not apply saves nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSING_RUBRIC, Factory
from workflow.autoevaluacion import actions as auto_actions
from workflow.autoevaluacion import window
from workflow.errors import Forbidden, GuardFailed, InvalidInput
from workflow.horizontes.horizons import ensure_horizon
from workflow.horizontes.models import HorizonCalendar, SelfAssessmentExtension
from workflow.models import Ruta, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi import review
from workflow.roles import Role
from workflow.states import ReturnTarget, State

OPENS, CLOSES, PMI_DEADLINE = date(2023, 10, 2), date(2024, 2, 2), date(2024, 2, 16)
OPENED_AT = datetime(2023, 9, 20, 15, 0, tzinfo=UTC)
# Noon in Bogotá is 17:00 UTC: the Bogotá day of these moments is their date.
INSIDE = datetime(2024, 1, 15, 17, 0, tzinfo=UTC)
BEFORE = datetime(2023, 9, 25, 17, 0, tzinfo=UTC)
AFTER = datetime(2024, 3, 1, 17, 0, tzinfo=UTC)
REASON = "La sede rural estuvo sin conectividad en enero"


def bogota_noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)


def with_window(make: Factory, ruta: Ruta, opens: date | None = OPENS,
                closes: date | None = CLOSES) -> HorizonCalendar:
    horizon = ensure_horizon(make.db, ruta.school.secretaria, 2024, 2026, actor=None)
    horizon.pmi_deadline = PMI_DEADLINE
    horizon.self_assessment_opens, horizon.self_assessment_closes = opens, closes
    make.db.flush()
    return horizon


def ready(make: Factory, opened_at: datetime = OPENED_AT) -> tuple[Ruta, User, User]:
    """A complete autoevaluación in borrador, opened on ``opened_at``, in a horizon with a
    window; its rector (activated with the Ruta) and the Secretaría's administrador."""
    ruta = make.completed_self_assessment(make.ruta())
    ruta.created_at = opened_at
    rector = make.user(Role.RECTOR, school=ruta.school)
    rector.activated_at = opened_at
    admin = make.user(Role.ADMINISTRADOR, secretaria=ruta.school.secretaria)
    with_window(make, ruta)
    return ruta, rector, admin


def send(db: Session, ruta: Ruta, rector: User, now: datetime) -> None:
    auto_actions.submit_self_assessment(db, ruta, actor=rector, expected_version=ruta.version,
                                        now=now)


def test_window_for_a_horizon_without_dates_enforces_nothing(db: Session,
                                                             make: Factory) -> None:
    ruta, rector, _ = ready(make)
    with_window(make, ruta, opens=None, closes=None)
    assert window.window_for(db, ruta).enforced is False
    send(db, ruta, rector, AFTER)
    assert ruta.state is State.AUTOEVALUACION_ENVIADA


def test_send_inside_the_window_passes(db: Session, make: Factory) -> None:
    ruta, rector, _ = ready(make)
    assert window.window_for(db, ruta) == window.Window(
        opens=OPENS, closes=CLOSES, extension=None, horizon_closes=CLOSES,
        late_join_until=None, horizon_end=date(2026, 12, 31))
    send(db, ruta, rector, INSIDE)
    assert ruta.state is State.AUTOEVALUACION_ENVIADA


@pytest.mark.parametrize("day", [OPENS, CLOSES])
def test_send_on_the_first_and_last_day_passes(db: Session, make: Factory, day: date) -> None:
    ruta, rector, _ = ready(make)
    send(db, ruta, rector, bogota_noon(day))
    assert ruta.state is State.AUTOEVALUACION_ENVIADA


def test_send_before_the_window_opens_is_refused_with_the_opening_day(
        db: Session, make: Factory) -> None:
    ruta, rector, _ = ready(make)
    with pytest.raises(GuardFailed) as refused:
        send(db, ruta, rector, BEFORE)
    assert refused.value.reasons == [
        "La autoevaluación abre el 2 de octubre de 2023: desde ese día se puede enviar, hasta "
        "el 2 de febrero de 2024. Mientras tanto el equipo puede adelantarla; lo que registre "
        "queda guardado."]
    assert ruta.state is State.BORRADOR


def test_send_after_the_window_closes_is_refused_and_says_how_to_ask(
        db: Session, make: Factory) -> None:
    ruta, rector, _ = ready(make)
    with pytest.raises(GuardFailed) as refused:
        send(db, ruta, rector, AFTER)
    assert refused.value.message == "Todavía no se puede «Enviar la autoevaluación»."
    assert refused.value.reasons == [
        "La ventana de la autoevaluación se cerró el 2 de febrero de 2024 (estuvo abierta "
        "desde el 2 de octubre de 2023), así que ya no se puede enviar. Lo que el equipo "
        "registró queda guardado y se puede seguir editando. Pida a la Secretaría una "
        "prórroga."]


def test_check_can_send_raises_the_guards_error_only_outside_the_window(
        db: Session, make: Factory) -> None:
    ruta, _, _ = ready(make)
    window.check_can_send(db, ruta, now=INSIDE)
    with pytest.raises(GuardFailed) as refused:
        window.check_can_send(db, ruta, now=AFTER)
    assert refused.value.reasons == [window.send_refusal(db, ruta, now=AFTER)]
    assert refused.value.reasons[0].endswith("Pida a la Secretaría una prórroga.")


def test_the_day_is_bogotas(db: Session, make: Factory) -> None:
    # 3 February 2024, 03:00 UTC is still 2 February in Bogotá: the last day of the window.
    ruta, rector, _ = ready(make)
    send(db, ruta, rector, datetime(2024, 2, 3, 3, 0, tzinfo=UTC))
    assert ruta.state is State.AUTOEVALUACION_ENVIADA


def test_an_incomplete_autoevaluacion_outside_the_window_lists_both_reasons(
        db: Session, make: Factory) -> None:
    ruta = make.ruta()
    ruta.created_at = OPENED_AT
    rector = make.user(Role.RECTOR, school=ruta.school)
    with_window(make, ruta)
    with pytest.raises(GuardFailed) as refused:
        send(db, ruta, rector, AFTER)
    assert refused.value.reasons[0].startswith("La ventana de la autoevaluación se cerró")
    assert len(refused.value.reasons) > 1


def returned_to_self_assessment(db: Session, make: Factory, ruta: Ruta, rector: User) -> None:
    """Send (inside the window), formulate, and have a revisor return it to borrador."""
    send(db, ruta, rector, INSIDE)
    ruta.state = State.EN_REVISION  # the PMI's content is not what this test is about
    reviewer = make.user(Role.REVISOR, secretaria=ruta.school.secretaria)
    ruta.reviewer_id = reviewer.id
    db.flush()
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="1",
                           text="Rehagan la valoración de la gestión académica con evidencias.")
    pmi_actions.return_with_observations(
        db, ruta, reviewer=reviewer, expected_version=ruta.version, observations="",
        target=ReturnTarget.AUTOEVALUACION, rubric=PASSING_RUBRIC)
    assert ruta.state is State.BORRADOR


def test_a_returned_ruta_may_be_sent_again_after_the_window(db: Session,
                                                            make: Factory) -> None:
    ruta, rector, admin = ready(make)
    returned_to_self_assessment(db, make, ruta, rector)
    notice = window.notice_for(db, ruta, admin, now=AFTER)
    assert (notice.returned, notice.refusal, notice.may_extend) == (True, None, False)
    send(db, ruta, rector, AFTER)
    assert ruta.state is State.AUTOEVALUACION_ENVIADA


def test_a_prorroga_lets_the_school_send_until_its_day(db: Session, make: Factory) -> None:
    ruta, rector, admin = ready(make)
    extension = window.extend_window(db, ruta, "2024-03-15", f"  {REASON}  ", actor=admin,
                                     now=AFTER)
    assert (extension.ruta_id, extension.until, extension.reason, extension.granted_by_id,
            extension.granted_at) == (ruta.id, date(2024, 3, 15), REASON, admin.id, AFTER)
    current = window.window_for(db, ruta)
    assert (current.opens, current.closes, current.extension, current.extended) == (
        OPENS, date(2024, 3, 15), extension, True)
    with pytest.raises(GuardFailed):
        send(db, ruta, rector, bogota_noon(date(2024, 3, 16)))
    send(db, ruta, rector, bogota_noon(date(2024, 3, 15)))
    assert ruta.state is State.AUTOEVALUACION_ENVIADA


def test_the_latest_prorroga_is_in_force_and_every_one_is_logged(db: Session,
                                                                 make: Factory) -> None:
    ruta, _, admin = ready(make)
    first = window.extend_window(db, ruta, "2024-03-15", REASON, actor=admin, now=AFTER)
    second = window.extend_window(db, ruta, "2024-03-08", "Corrección: eran dos semanas, no "
                                  "tres", actor=admin, now=AFTER)
    assert window.window_for(db, ruta).closes == date(2024, 3, 8)
    assert window.extensions_of(db, ruta) == [second, first]


def extension_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(SelfAssessmentExtension)) or 0


@pytest.mark.parametrize(("until", "reason", "errors"), [
    ("", REASON, {"until": ["Escriba hasta qué fecha se puede enviar la autoevaluación."]}),
    ("15/03/2024", REASON, {"until": [
        "La fecha no es válida: use el formato año-mes-día, por ejemplo 2024-03-01."]}),
    ("2024-02-30", REASON, {"until": [
        "La fecha no es válida: use el formato año-mes-día, por ejemplo 2024-03-01."]}),
    ("2024-03-01", REASON, {"until": [
        "La prórroga debe terminar después de hoy (1 de marzo de 2024)."]}),
    ("2027-01-01", REASON, {"until": [
        "La prórroga no puede ir más allá del final del horizonte (31 de diciembre de 2026)."]}),
    ("2024-03-15", "", {"reason": [
        "Escriba en unas palabras por qué se concede la prórroga (por ejemplo: «La sede rural "
        "estuvo sin conectividad en enero»): queda en el registro."]}),
    ("2024-03-15", "  porque sí  ", {"reason": [
        "Escriba en unas palabras por qué se concede la prórroga (por ejemplo: «La sede rural "
        "estuvo sin conectividad en enero»): queda en el registro."]}),
    ("2024-03-15", "motivo " * 200, {"reason": [
        "El motivo es muy largo: use como máximo 1000 caracteres (tiene 1399)."]}),
])
def test_a_prorroga_that_does_not_apply_saves_nothing(db: Session, make: Factory, until: str,
                                                      reason: str,
                                                      errors: dict[str, list[str]]) -> None:
    ruta, _, admin = ready(make)
    with pytest.raises(InvalidInput) as refused:
        window.extend_window(db, ruta, until, reason, actor=admin, now=AFTER)
    assert refused.value.errors == errors
    assert extension_count(db) == 0


def test_a_prorroga_inside_the_window_must_go_past_its_end(db: Session, make: Factory) -> None:
    ruta, _, admin = ready(make)
    with pytest.raises(InvalidInput) as refused:
        window.extend_window(db, ruta, "2024-01-31", REASON, actor=admin, now=INSIDE)
    assert refused.value.errors == {"until": [
        "Esa fecha no extiende nada: la ventana ya está abierta hasta el 2 de febrero de "
        "2024."]}
    assert extension_count(db) == 0


def test_a_prorroga_needs_a_window_a_first_sending_and_borrador(db: Session,
                                                                make: Factory) -> None:
    ruta, rector, admin = ready(make)
    with_window(make, ruta, opens=None, closes=None)
    with pytest.raises(InvalidInput, match="todavía no tiene fechas"):
        window.extend_window(db, ruta, "2024-03-15", REASON, actor=admin, now=AFTER)
    with_window(make, ruta)
    send(db, ruta, rector, INSIDE)
    with pytest.raises(InvalidInput, match="ya envió su autoevaluación"):
        window.extend_window(db, ruta, "2024-03-15", REASON, actor=admin, now=AFTER)
    assert extension_count(db) == 0


def test_a_returned_ruta_needs_no_prorroga(db: Session, make: Factory) -> None:
    ruta, rector, admin = ready(make)
    returned_to_self_assessment(db, make, ruta, rector)
    with pytest.raises(InvalidInput, match="puede reenviarla sin prórroga"):
        window.extend_window(db, ruta, "2024-03-15", REASON, actor=admin, now=AFTER)
    assert extension_count(db) == 0


@pytest.mark.parametrize("role", [Role.RECTOR, Role.REVISOR, Role.CONSULTA, Role.EQUIPO])
def test_only_the_administracion_grants_prorrogas(db: Session, make: Factory,
                                                  role: Role) -> None:
    ruta, rector, _ = ready(make)
    someone = rector if role is Role.RECTOR else make.user(
        role, school=ruta.school if role.belongs_to_school else None,
        secretaria=ruta.school.secretaria)
    with pytest.raises(Forbidden, match="Solo la administración de la Secretaría"):
        window.extend_window(db, ruta, "2024-03-15", REASON, actor=someone, now=AFTER)
    assert extension_count(db) == 0
    assert window.notice_for(db, ruta, someone, now=AFTER).may_extend is False


def test_another_secretarias_administrador_is_refused(db: Session, make: Factory) -> None:
    ruta, _, admin = ready(make)
    other = make.user(Role.ADMINISTRADOR,
                      secretaria=make.secretaria("Secretaría de Educación del Tolima", "73000"))
    with pytest.raises(Forbidden):
        window.extend_window(db, ruta, "2024-03-15", REASON, actor=other, now=AFTER)
    assert extension_count(db) == 0
    assert window.notice_for(db, ruta, other, now=AFTER).may_extend is False
    assert window.notice_for(db, ruta, admin, now=AFTER).may_extend is True


def test_a_late_joiner_has_until_its_own_pmi_deadline(db: Session, make: Factory) -> None:
    # Opened on 10 February 2024 (after the window), rector activated on the 12th: 30 days of
    # grace from the 12th, so its own PMI deadline, and its window, end on 13 March.
    ruta, rector, _ = ready(make, opened_at=datetime(2024, 2, 10, 15, 0, tzinfo=UTC))
    rector.activated_at = datetime(2024, 2, 12, 15, 0, tzinfo=UTC)
    db.flush()
    current = window.window_for(db, ruta)
    assert (current.closes, current.late_join_until, current.extended) == (
        date(2024, 3, 13), date(2024, 3, 13), True)
    with pytest.raises(GuardFailed):
        send(db, ruta, rector, bogota_noon(date(2024, 3, 14)))
    send(db, ruta, rector, bogota_noon(date(2024, 3, 13)))
    assert ruta.state is State.AUTOEVALUACION_ENVIADA


def test_a_school_that_joined_in_time_keeps_the_horizons_window(db: Session,
                                                                make: Factory) -> None:
    ruta, _, _ = ready(make, opened_at=datetime(2024, 1, 9, 13, 0, tzinfo=UTC))
    current = window.window_for(db, ruta)
    assert (current.closes, current.late_join_until) == (CLOSES, None)
