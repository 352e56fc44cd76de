"""The final evaluation, the ``cerrar`` guard, the next cycle and the perfil comparison."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from demo.pmi import fill_demo_pmi
from tests.conftest import PASSING_RUBRIC, Factory
from workflow.autoevaluacion.models import Estamento, IdentityReview, TeamMember, Valoracion
from workflow.autoevaluacion.perfil import Rated, compute_perfil, perfil_for
from workflow.cierre import actions as cierre_actions
from workflow.cierre import evaluacion_final as final
from workflow.cierre.models import FinalEvaluation, IndicatorResult, MetaResult, Verdict
from workflow.errors import Forbidden, GuardFailed, InvalidInput, NotEditable
from workflow.horizontes import opening
from workflow.horizontes.calendar import calendar_for
from workflow.horizontes.models import FollowUpCheckpoint, HorizonCalendar
from workflow.models import OPENED, Ruta, RutaTransition, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi.plan import element_labels, numbered_labels, plan_content
from workflow.roles import Role
from workflow.seguimiento import actions as seguimiento_actions
from workflow.states import State

# Recording opens on 1 November 2026 for a Ruta 2024–2026 without a calendar.
OPEN = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
BEFORE = datetime(2026, 10, 20, 15, 0, tzinfo=UTC)
LESSONS = "Las metas anuales necesitan seguimiento por periodo."
NOT_RECORDED = ("La institución todavía no ha registrado la evaluación final del plan (metas "
                "alcanzadas o no, con sus valores, y lecciones aprendidas).")
DRAFT = ("La evaluación final está en borrador: el rector o la rectora debe marcarla como "
         "registrada antes de cerrar la Ruta.")


@dataclass
class Following:
    ruta: Ruta
    rector: User
    reviewer: User
    admin: User

    def metas(self, db: Session) -> list[final.MetaRow]:
        return final.load(db, self.ruta, now=OPEN).metas


def following(db: Session, make: Factory) -> Following:
    """A Ruta 2024–2026 in seguimiento with the demo PMI (two metas, two indicadores), built
    through the services from a sent autoevaluación."""
    ruta = make.ruta(state=State.AUTOEVALUACION_ENVIADA)
    make.completed_self_assessment(ruta, level=2)
    rector = make.user(Role.RECTOR, school=ruta.school)
    reviewer = make.user(Role.REVISOR, secretaria=ruta.school.secretaria)
    admin = make.user(Role.ADMINISTRADOR, secretaria=ruta.school.secretaria)
    fill_demo_pmi(db, ruta, actor=rector)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                        rubric=PASSING_RUBRIC)
    seguimiento_actions.start_follow_up(db, ruta, actor=None, expected_version=ruta.version)
    assert ruta.state is State.SEGUIMIENTO
    return Following(ruta, rector, reviewer, admin)


def complete_form(db: Session, people: Following, **changes: str) -> dict[str, str]:
    rows = people.metas(db)
    form = {"lecciones": LESSONS, "comunicacion_medio": "Asamblea de padres y madres.",
            "comunicacion_fecha": "2026-11-06"}
    for row, (verdict, value) in zip(rows, [("parcialmente", "41,5"), ("alcanzada", "7")],
                                     strict=True):
        form[final.verdict_field(row.meta.id)] = verdict
        form[final.value_field(row.meta.id)] = value
        form[final.comment_field(row.meta.id)] = f"Comentario de {row.label}."
        for indicator in row.indicadores:
            form[final.indicator_field(indicator.indicador.id)] = value
    form.update(changes)
    return form


def count(db: Session, model: type[Any]) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def close(db: Session, people: Following) -> RutaTransition:
    return cierre_actions.close(db, people.ruta, reviewer=people.reviewer,
                                expected_version=people.ruta.version, now=OPEN)


def recorded(db: Session, people: Following) -> None:
    final.save(db, people.ruta, complete_form(db, people), actor=people.rector, now=OPEN)
    final.register(db, people.ruta, actor=people.rector, now=OPEN)


# --- when recording opens -------------------------------------------------------------------


def test_recording_opens_on_november_first_without_a_calendar(db: Session,
                                                              make: Factory) -> None:
    ruta = make.ruta(state=State.SEGUIMIENTO)
    assert final.opens_on(db, ruta) == date(2026, 11, 1)


@pytest.mark.parametrize(("last_checkpoint", "expected"), [
    (date(2026, 6, 26), date(2026, 6, 26)),    # earlier than November: the checkpoint
    (date(2026, 11, 27), date(2026, 11, 1)),   # later: 1 November
])
def test_recording_opens_on_the_earlier_of_last_checkpoint_and_november(
        db: Session, make: Factory, last_checkpoint: date, expected: date) -> None:
    ruta = make.ruta(state=State.SEGUIMIENTO)
    calendar = HorizonCalendar(
        secretaria_id=ruta.school.secretaria_id, horizon_start_year=2024, horizon_end_year=2026,
        pmi_deadline=date(2024, 2, 16), self_assessment_opens=date(2023, 10, 2),
        self_assessment_closes=date(2024, 2, 2))
    calendar.checkpoints = [FollowUpCheckpoint(name="Primero", due_on=date(2024, 6, 28)),
                            FollowUpCheckpoint(name="Último", due_on=last_checkpoint)]
    db.add(calendar)
    db.flush()
    assert final.opens_on(db, ruta) == expected


def test_saving_before_recording_opens_is_refused_and_saves_nothing(
        db: Session, make: Factory) -> None:
    people = following(db, make)
    with pytest.raises(NotEditable) as refused:
        final.save(db, people.ruta, complete_form(db, people), actor=people.rector, now=BEFORE)
    assert refused.value.message == ("La evaluación final se registra desde el 1 de noviembre "
                                     "de 2026, al final del horizonte 2024–2026.")
    assert refused.value.status == 409
    assert count(db, FinalEvaluation) == count(db, MetaResult) == 0


# --- recording and the guard of cerrar -------------------------------------------------------


def test_close_is_refused_with_the_guard_reason_while_nothing_is_recorded(
        db: Session, make: Factory) -> None:
    people = following(db, make)
    with pytest.raises(GuardFailed) as refused:
        close(db, people)
    assert refused.value.message == "Todavía no se puede «Cerrar la Ruta»."
    assert refused.value.reasons == [NOT_RECORDED]
    assert people.ruta.state is State.SEGUIMIENTO


def test_rector_records_a_draft_then_registers_and_the_reviewer_closes(
        db: Session, make: Factory) -> None:
    people = following(db, make)
    final.save(db, people.ruta, complete_form(db, people), actor=people.rector, now=OPEN)
    view = final.load(db, people.ruta, now=OPEN)
    assert [(row.label, row.result.verdict, row.result.valor_alcanzado, row.result.comentario)
            for row in view.metas if row.result] == [
        ("Meta 1.1", Verdict.PARCIAL, 41.5, "Comentario de Meta 1.1."),
        ("Meta 2.1", Verdict.ALCANZADA, 7.0, "Comentario de Meta 2.1.")]
    assert [item.result.valor for row in view.metas for item in row.indicadores
            if item.result] == [41.5, 7.0]
    assert view.evaluation is not None
    assert view.evaluation.comunicacion_fecha == date(2026, 11, 6)
    assert not view.registered and view.missing == []

    with pytest.raises(GuardFailed) as refused:
        close(db, people)
    assert refused.value.reasons == [DRAFT]

    final.register(db, people.ruta, actor=people.rector, now=OPEN)
    entry = close(db, people)
    db.commit()
    assert people.ruta.state is State.CERRADO
    assert (entry.trigger, entry.from_state, entry.to_state, entry.actor_id) == (
        "cerrar", State.SEGUIMIENTO, State.CERRADO, people.reviewer.id)
    evaluation = final.get_evaluation(db, people.ruta)
    assert evaluation is not None and evaluation.registered_by_id == people.rector.id


def test_the_ruta_page_reads_the_same_state_and_numbers_as_the_full_view(
        db: Session, make: Factory) -> None:
    people = following(db, make)

    def flags(view: final.EvaluationView | final.Glance) -> tuple[Any, ...]:
        return (view.started, view.registered, view.is_open, view.opens_on, view.evaluation)

    seen = []
    for step in (lambda: None,
                 lambda: final.save(db, people.ruta, complete_form(db, people),
                                    actor=people.rector, now=OPEN),
                 lambda: final.register(db, people.ruta, actor=people.rector, now=OPEN)):
        step()
        glance = final.glance(db, people.ruta, now=OPEN)
        assert flags(glance) == flags(final.load(db, people.ruta, now=OPEN))
        seen.append((glance.started, glance.registered))
    assert seen == [(False, False), (True, False), (True, True)]
    # The numbered elements carry the plan's own numbers (hallazgos are not numbered there).
    full = element_labels(plan_content(db, people.ruta))
    assert numbered_labels(db, people.ruta) == {
        key: label for key, label in full.items()
        if key.split(":")[0] in ("plan", "objetivo", "meta", "indicador", "actividad")}
    assert "actividad" in " ".join(numbered_labels(db, people.ruta))


def test_a_team_member_saves_drafts_but_only_the_rector_registers(
        db: Session, make: Factory) -> None:
    people = following(db, make)
    member_user = make.user(Role.EQUIPO, school=people.ruta.school)
    db.add(TeamMember(ruta_id=people.ruta.id, name=member_user.name,
                      email=member_user.email, estamento=Estamento.DOCENTE,
                      user_id=member_user.id))
    db.flush()
    final.save(db, people.ruta, complete_form(db, people), actor=member_user, now=OPEN)
    with pytest.raises(Forbidden):
        final.register(db, people.ruta, actor=member_user, now=OPEN)
    outsider = make.user(Role.EQUIPO, school=people.ruta.school)  # not on this Ruta's team
    with pytest.raises(Forbidden):
        final.save(db, people.ruta, complete_form(db, people), actor=outsider, now=OPEN)
    assert final.get_evaluation(db, people.ruta).registered is False  # type: ignore[union-attr]


# --- bad input ------------------------------------------------------------------------------


def test_a_value_that_is_not_a_number_is_refused_and_nothing_is_saved(
        db: Session, make: Factory) -> None:
    people = following(db, make)
    meta = people.metas(db)[0].meta
    form = complete_form(db, people, **{final.value_field(meta.id): "cuarenta"})
    with pytest.raises(InvalidInput) as refused:
        final.save(db, people.ruta, form, actor=people.rector, now=OPEN)
    assert refused.value.errors == {final.value_field(meta.id): [
        "Meta 1.1 (valor alcanzado): el valor debe ser un número (por ejemplo, 42 o 12,5); "
        "llegó «cuarenta»."]}
    assert count(db, FinalEvaluation) == count(db, MetaResult) == 0
    assert count(db, IndicatorResult) == 0


def test_a_value_or_comment_without_a_verdict_is_refused(db: Session, make: Factory) -> None:
    people = following(db, make)
    meta = people.metas(db)[1].meta
    form = complete_form(db, people, **{final.verdict_field(meta.id): ""})
    with pytest.raises(InvalidInput) as refused:
        final.save(db, people.ruta, form, actor=people.rector, now=OPEN)
    assert refused.value.errors == {final.verdict_field(meta.id): [
        "Meta 2.1: diga si se alcanzó, se alcanzó parcialmente o no se alcanzó; sin eso el "
        "valor y el comentario no se guardan."]}
    unknown = complete_form(db, people, **{final.verdict_field(meta.id): "casi"})
    with pytest.raises(InvalidInput):
        final.save(db, people.ruta, unknown, actor=people.rector, now=OPEN)
    assert count(db, MetaResult) == 0


def test_registering_without_lessons_or_with_a_meta_unjudged_says_what_is_missing(
        db: Session, make: Factory) -> None:
    people = following(db, make)
    first = people.metas(db)[0].meta
    form = complete_form(db, people, lecciones="  ", **{
        final.verdict_field(first.id): "", final.value_field(first.id): "",
        final.comment_field(first.id): ""})
    final.save(db, people.ruta, form, actor=people.rector, now=OPEN)
    with pytest.raises(GuardFailed) as refused:
        final.register(db, people.ruta, actor=people.rector, now=OPEN)
    assert refused.value.reasons == [
        "Meta 1.1: diga si se alcanzó, se alcanzó parcialmente o no se alcanzó.",
        "Escriba las lecciones aprendidas."]
    assert final.get_evaluation(db, people.ruta).registered_at is None  # type: ignore[union-attr]


def test_a_registered_evaluation_is_edited_only_after_reopening(db: Session,
                                                                make: Factory) -> None:
    people = following(db, make)
    recorded(db, people)
    with pytest.raises(NotEditable):
        final.save(db, people.ruta, complete_form(db, people, lecciones="Otra."),
                   actor=people.rector, now=OPEN)
    final.reopen(db, people.ruta, actor=people.rector, now=OPEN)
    with pytest.raises(GuardFailed) as refused:
        close(db, people)
    assert refused.value.reasons == [DRAFT]
    final.save(db, people.ruta, complete_form(db, people, lecciones="Otra."),
               actor=people.rector, now=OPEN)
    assert final.get_evaluation(db, people.ruta).lecciones == "Otra."  # type: ignore[union-attr]


def test_after_closing_the_evaluation_no_longer_changes(db: Session, make: Factory) -> None:
    people = following(db, make)
    recorded(db, people)
    close(db, people)
    for attempt in (
            lambda: final.save(db, people.ruta, complete_form(db, people, lecciones="Otra."),
                               actor=people.rector, now=OPEN),
            lambda: final.reopen(db, people.ruta, actor=people.rector, now=OPEN)):
        with pytest.raises(NotEditable) as refused:
            attempt()
        assert refused.value.message.startswith("La Ruta está cerrada")
    assert final.get_evaluation(db, people.ruta).lecciones == LESSONS  # type: ignore[union-attr]


# --- the next cycle -------------------------------------------------------------------------


def closed(db: Session, make: Factory) -> Following:
    people = following(db, make)
    recorded(db, people)
    close(db, people)
    return people


def test_a_closed_ruta_opens_the_next_one_even_without_its_calendar(
        db: Session, make: Factory) -> None:
    people = closed(db, make)
    assert calendar_for(db, people.ruta.school.secretaria_id, 2027) is None
    moment = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)

    opened = final.open_next_ruta(db, people.ruta, actor=people.admin, now=moment)
    db.commit()

    assert (opened.horizon_label, opened.state, opened.previous_ruta_id) == (
        "2027–2029", State.BORRADOR, people.ruta.id)
    assert getattr(opened, "catalog_id") == getattr(people.ruta, "catalog_id")  # noqa: B009
    assert [(row.trigger, row.actor_id, row.at) for row in opened.transitions] == [
        (OPENED, people.admin.id, moment)]
    identity = db.get(IdentityReview, opened.id)
    assert identity is not None
    assert (identity.mision, identity.pei_reference) == ("Formar ciudadanos críticos.",
                                                         "Acuerdo 04 de 2021")
    # The team decides again whether the copied identity still holds.
    assert identity.mision_vigencia is None and identity.vision_vigencia is None
    assert final.successor(db, people.ruta) is opened
    assert final.predecessor(db, opened) is people.ruta


def test_opening_the_next_ruta_twice_or_from_a_ruta_not_closed_is_refused(
        db: Session, make: Factory) -> None:
    people = following(db, make)
    with pytest.raises(NotEditable) as refused:
        final.open_next_ruta(db, people.ruta, actor=people.admin)
    assert refused.value.message == ("Solo una Ruta cerrada abre el siguiente ciclo; esta está "
                                     "en «Seguimiento periódico».")
    recorded(db, people)
    close(db, people)
    with pytest.raises(Forbidden):
        final.open_next_ruta(db, people.ruta, actor=people.rector)
    final.open_next_ruta(db, people.ruta, actor=people.admin)
    with pytest.raises(NotEditable) as twice:
        final.open_next_ruta(db, people.ruta, actor=people.admin)
    assert twice.value.message == "La Ruta 2027–2029 de esta institución ya fue abierta."
    assert db.scalar(select(func.count()).select_from(Ruta).where(
        Ruta.school_id == people.ruta.school_id)) == 2


def test_a_next_horizon_ruta_opened_before_is_linked_not_duplicated(
        db: Session, make: Factory) -> None:
    people = closed(db, make)
    existing = opening.open_ruta(db, people.ruta.school, actor=people.admin, start_year=2027)
    assert final.open_next_ruta(db, people.ruta, actor=people.admin) is existing
    assert existing.previous_ruta_id == people.ruta.id


# --- the comparison with the previous Ruta --------------------------------------------------


def rated(code: str, level: int | None, area: str = "DIR") -> Rated:
    return Rated(area, f"Gestión {area}", f"{area}.1", "Proceso", code, f"C {code}", level)


def test_perfil_compares_each_area_and_componente_with_up_down_and_same() -> None:
    previous = [rated("DIR.1.1", 2), rated("DIR.1.2", 3), rated("DIR.1.3", 2),
                rated("ACA.1.1", 3, "ACA")]
    current = [rated("DIR.1.1", 3), rated("DIR.1.2", 2), rated("DIR.1.3", 2),
               rated("DIR.1.4", 4), rated("ACA.1.1", 3, "ACA")]
    perfil = compute_perfil(current, previous)
    assert [(c.code, c.previous, c.level, c.trend.arrow if c.trend else None)
            for c in perfil.componentes] == [
        ("DIR.1.1", 2, 3, "↑"), ("DIR.1.2", 3, 2, "↓"), ("DIR.1.3", 2, 2, "="),
        ("DIR.1.4", None, 4, None), ("ACA.1.1", 3, 3, "=")]
    assert (perfil.count("up"), perfil.count("down"), perfil.count("same")) == (1, 1, 2)
    # DIR: 7/3 → 11/4 goes up; ACA stays.
    assert [(a.code, a.trend.label if a.trend else None) for a in perfil.areas] == [
        ("DIR", "Subió"), ("ACA", "Igual")]
    assert [name for name, _ in perfil.componentes_by_area()] == ["Gestión DIR",
                                                                  "Gestión ACA"]
    assert compute_perfil(current).componentes == []


def test_perfil_of_the_next_ruta_compares_with_the_closed_one(db: Session,
                                                             make: Factory) -> None:
    people = closed(db, make)  # every componente at level 2
    opened = final.open_next_ruta(db, people.ruta, actor=people.admin)
    catalog = people.ruta.catalog  # type: ignore[attr-defined]
    for number, componente in enumerate(catalog.componentes):
        db.add(Valoracion(ruta_id=opened.id, componente_id=componente.id,
                          level=(3, 2, 1)[number % 3], evidence="Acta."))
    db.flush()
    perfil, before = perfil_for(db, opened)
    assert before is people.ruta
    assert [(c.code, c.trend.key if c.trend else None) for c in perfil.componentes] == [
        ("DIR.1.1", "up"), ("DIR.1.2", "same"), ("DIR.2.1", "down"), ("ACA.1.1", "up"),
        ("ACA.1.2", "same")]
    assert [(a.code, a.previous, a.tally.average) for a in perfil.areas] == [
        ("DIR", 2.0, 2.0), ("ACA", 2.0, 2.5)]
