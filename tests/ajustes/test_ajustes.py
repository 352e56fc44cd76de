"""Plan adjustments: the machine, proposing with justifications, refusals that save nothing,
approval as a new PMI version, and reports that keep the version they were drawn from."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from transitions import MachineError

from tests.ajustes.helpers import actividad_form, approved_plan, meta_form, reload, rubric
from tests.conftest import Factory
from tests.core.test_race import run_together
from tests.seguimiento.test_seguimiento import Plan, bogota, form_for, opened, sent
from workflow.ajustes import actions, changes
from workflow.ajustes.machine import (
    TRANSITIONS,
    AdjustmentState,
    AdjustmentSubject,
    AdjustmentTrigger,
    fire,
    mermaid_diagram,
    triggers_from,
)
from workflow.ajustes.models import (
    AdjustmentChange,
    AdjustmentEvent,
    ChangeKind,
    PlanAdjustment,
)
from workflow.errors import Forbidden, GuardFailed, InvalidInput, NotEditable, StaleEdit
from workflow.models import OutboxMessage, Ruta
from workflow.pmi import versions
from workflow.pmi.models import Actividad, Meta, PmiSnapshot
from workflow.seguimiento import reports as seguimiento
from workflow.seguimiento.plan_version import report_version, version_in_force
from workflow.states import State

S, T = AdjustmentState, AdjustmentTrigger


@pytest.fixture
def plan(db: Session, make: Factory) -> Plan:
    return approved_plan(make)


def proposed(db: Session, plan: Plan, **form: str) -> PlanAdjustment:
    """An adjustment with one change of the first meta (its cantidad), committed."""
    adjustment = changes.create_adjustment(db, plan.ruta, actor=plan.rector, token=None,
                                           now=bogota(date(2025, 3, 3))).adjustment
    changes.add_change(db, adjustment, actor=plan.rector, kind=ChangeKind.CHANGE,
                       element_kind="meta", element_id=plan.first.meta_id,
                       form=meta_form(plan, **form),
                       justification="Los resultados de 2024 superaron lo previsto.",
                       token=None)
    db.commit()
    return adjustment


def submitted(db: Session, plan: Plan) -> PlanAdjustment:
    adjustment = proposed(db, plan)
    actions.send(db, adjustment, actor=plan.rector, expected_version=adjustment.version,
                 now=bogota(date(2025, 3, 4)))
    db.commit()
    return adjustment


# --- the machine --------------------------------------------------------------------------

EXPECTED = {
    (S.BORRADOR, T.ENVIAR): S.ENVIADO, (S.DEVUELTO, T.ENVIAR): S.ENVIADO,
    (S.ENVIADO, T.APROBAR): S.APROBADO, (S.ENVIADO, T.DEVOLVER): S.DEVUELTO,
}
ALL_FACTS = {"has_changes": True, "rubric_allows_approval": True, "changes_apply": True,
             "has_observations": True}


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("trigger", list(T))
def test_every_state_and_trigger_pair_moves_only_as_the_table_says(
        state: AdjustmentState, trigger: AdjustmentTrigger) -> None:
    subject = AdjustmentSubject(state=state.value, facts=ALL_FACTS)
    if (state, trigger) in EXPECTED:
        assert fire(subject, trigger) is True
        assert subject.state == EXPECTED[(state, trigger)].value
    else:
        with pytest.raises(MachineError):
            fire(subject, trigger)
        assert subject.state == state.value


def test_a_failed_guard_keeps_the_state() -> None:
    subject = AdjustmentSubject(state="enviado", facts={**ALL_FACTS, "has_observations": False})
    assert fire(subject, T.DEVOLVER) is False
    assert subject.state == "enviado"


def test_the_machine_offers_what_its_table_defines() -> None:
    assert triggers_from(S.APROBADO) == []
    assert triggers_from(S.ENVIADO) == [T.APROBAR, T.DEVOLVER]
    assert len(TRANSITIONS) == 3
    diagram = mermaid_diagram()
    assert "stateDiagram-v2" in diagram and "devuelto" in diagram


# --- proposing ----------------------------------------------------------------------------


def test_a_change_without_justification_is_refused_and_nothing_saved(
        db: Session, plan: Plan) -> None:
    adjustment = changes.create_adjustment(db, plan.ruta, actor=plan.rector,
                                           token=None).adjustment
    db.commit()
    with pytest.raises(InvalidInput) as refused:
        changes.add_change(db, adjustment, actor=plan.rector, kind=ChangeKind.CHANGE,
                           element_kind="meta", element_id=plan.first.meta_id,
                           form=meta_form(plan), justification="   ", token=None)
    db.rollback()
    assert refused.value.errors["justificacion"] == [
        "Escriba la justificación de este cambio: por qué se ajusta el plan (cada cambio "
        "necesita la suya)."]
    assert db.scalar(select(func.count()).select_from(AdjustmentChange)) == 0


def test_invalid_values_are_refused_by_the_pmi_rules(db: Session, plan: Plan) -> None:
    adjustment = changes.create_adjustment(db, plan.ruta, actor=plan.rector,
                                           token=None).adjustment
    with pytest.raises(InvalidInput) as refused:
        changes.add_change(db, adjustment, actor=plan.rector, kind=ChangeKind.CHANGE,
                           element_kind="meta", element_id=plan.first.meta_id,
                           form=meta_form(plan, cantidad="muchos"), justification="Porque sí.",
                           token=None)
    assert "cantidad" in refused.value.errors


def test_only_the_school_proposes_and_only_in_seguimiento(db: Session, plan: Plan,
                                                         make: Factory) -> None:
    with pytest.raises(Forbidden):
        changes.create_adjustment(db, plan.ruta, actor=plan.revisor, token=None)
    db.rollback()
    other = make.ruta(make.school(), State.APROBADO)
    rector = make.user(Ruta.__mapper__.class_ and plan.rector.role, school=other.school)
    db.commit()
    with pytest.raises(NotEditable) as refused:
        changes.create_adjustment(db, other, actor=rector, token=None)
    assert "seguimiento periódico" in refused.value.message


def test_removing_a_meta_with_reports_is_refused_naming_it_and_the_reports(
        db: Session, plan: Plan) -> None:
    sent(db, plan)
    adjustment = changes.create_adjustment(db, plan.ruta, actor=plan.rector,
                                           token=None).adjustment
    db.commit()
    with pytest.raises(InvalidInput) as refused:
        changes.add_change(db, adjustment, actor=plan.rector, kind=ChangeKind.REMOVE,
                           element_kind="meta", element_id=plan.first.meta_id, form={},
                           justification="Ya no aplica.", token=None)
    db.rollback()
    message = refused.value.errors["elemento_id"][0]
    assert message.startswith("No se puede eliminar la Meta 1.1: sus actividades o "
                              "indicadores ya tienen informes de seguimiento (corte «")
    assert plan.june.name in message
    assert db.scalar(select(func.count()).select_from(AdjustmentChange)) == 0
    assert db.get(Meta, plan.first.meta_id) is not None


def test_two_tabs_creating_at_once_make_one_adjustment(app: object, backend: str,
                                                      plan: Plan) -> None:
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")
    factory = app.extensions["ruta_db"].session_factory  # type: ignore[attr-defined]

    def create() -> int:
        with factory() as session:
            ruta = session.get(Ruta, plan.ruta.id)
            rector = session.get(type(plan.rector), plan.rector.id)
            opened_ = changes.create_adjustment(session, ruta, actor=rector, token=None)
            session.commit()
            return opened_.adjustment.id

    results = run_together(create, create)
    assert results[0] == results[1]
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(PlanAdjustment)) == 1


def test_a_repeated_creation_form_returns_the_same_adjustment(db: Session, plan: Plan) -> None:
    token = "t" * 32
    first = changes.create_adjustment(db, plan.ruta, actor=plan.rector, token=token)
    db.commit()
    again = changes.create_adjustment(db, plan.ruta, actor=plan.rector, token=token)
    assert (again.adjustment.id, again.again) == (first.adjustment.id, True)


def test_a_stale_edit_of_a_change_is_refused(db: Session, plan: Plan) -> None:
    adjustment = proposed(db, plan)
    change = adjustment.changes[0]
    changes.edit_change(db, adjustment, change.id, actor=plan.rector,
                        form=meta_form(plan, cantidad="48", enunciado="Subir al 48 % el puntaje de "
                                      "lectura crítica de grado once."),
                        justification="Otra razón.",
                        expected_version=1)
    db.commit()
    with pytest.raises(StaleEdit):
        changes.edit_change(db, adjustment, change.id, actor=plan.equipo,
                            form=meta_form(plan), justification="Vieja.", expected_version=1)


# --- sending and deciding -----------------------------------------------------------------


def test_an_empty_adjustment_cannot_be_sent(db: Session, plan: Plan) -> None:
    adjustment = changes.create_adjustment(db, plan.ruta, actor=plan.rector,
                                           token=None).adjustment
    db.commit()
    with pytest.raises(GuardFailed) as refused:
        actions.send(db, adjustment, actor=plan.rector, expected_version=adjustment.version)
    assert refused.value.reasons[0].startswith("Agregue al menos un cambio")


def test_the_equipo_proposes_but_only_the_rector_sends(db: Session, plan: Plan) -> None:
    adjustment = proposed(db, plan)
    with pytest.raises(Forbidden):
        actions.send(db, adjustment, actor=plan.equipo, expected_version=adjustment.version)


def test_sending_mails_the_reviewers(db: Session, plan: Plan) -> None:
    adjustment = submitted(db, plan)
    assert reload(db, adjustment).state is S.ENVIADO
    mail = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ajuste_enviado")).one()
    assert mail.recipients == [plan.revisor.email]
    assert "Ajuste 1" in mail.subject


def test_returning_needs_an_observation_and_keeps_the_plan(db: Session, plan: Plan) -> None:
    adjustment = submitted(db, plan)
    with pytest.raises(GuardFailed):
        actions.return_adjustment(db, adjustment, reviewer=plan.revisor,
                                  expected_version=adjustment.version, rubric=rubric(),
                                  observations={})
    db.rollback()
    adjustment = reload(db, adjustment)
    change = adjustment.changes[0]
    actions.return_adjustment(db, adjustment, reviewer=plan.revisor,
                              expected_version=adjustment.version, rubric=rubric(),
                              observations={change.id: "Explique de dónde sale el 50 %."})
    db.commit()
    adjustment = reload(db, adjustment)
    assert adjustment.state is S.DEVUELTO
    assert adjustment.changes[0].observation == "Explique de dónde sale el 50 %."
    assert db.get(Meta, plan.first.meta_id).cantidad == 45
    assert plan.ruta.state is State.SEGUIMIENTO
    event = db.scalars(select(AdjustmentEvent).where(AdjustmentEvent.trigger == "devolver")).one()
    assert event.note == "Modificar Meta 1.1: Explique de dónde sale el 50 %."
    assert [row["verdict"] for row in event.extra["rubric"]] == ["cumple"] * 9
    mail = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ajuste_decidido")).one()
    assert mail.recipients == [plan.rector.email]


def test_a_no_cumple_on_an_obligatory_criterion_refuses_approval(db: Session,
                                                                 plan: Plan) -> None:
    adjustment = submitted(db, plan)
    with pytest.raises(GuardFailed) as refused:
        actions.approve(db, adjustment, reviewer=plan.revisor,
                        expected_version=adjustment.version,
                        rubric=rubric("no_cumple", "Falta sustento."))
    db.rollback()
    assert "no cumple" in refused.value.reasons[0]
    assert reload(db, adjustment).state is S.ENVIADO
    assert db.get(Meta, plan.first.meta_id).cantidad == 45


def test_an_incomplete_rubric_is_invalid_input(db: Session, plan: Plan) -> None:
    adjustment = submitted(db, plan)
    with pytest.raises(InvalidInput):
        actions.approve(db, adjustment, reviewer=plan.revisor,
                        expected_version=adjustment.version, rubric={})


def test_approval_applies_the_changes_as_a_new_pmi_version(db: Session, plan: Plan) -> None:
    adjustment = submitted(db, plan)
    adjustment.changes  # noqa: B018 (loaded before the second change is added)
    actions.approve(db, adjustment, reviewer=plan.revisor, expected_version=adjustment.version,
                    rubric=rubric(), now=bogota(date(2025, 3, 10)))
    db.commit()
    adjustment = reload(db, adjustment)
    assert adjustment.state is S.APROBADO
    assert adjustment.snapshot.number == 2
    assert db.get(Meta, plan.first.meta_id).cantidad == 50
    assert db.get(Ruta, plan.ruta.id).state is State.SEGUIMIENTO
    changed = versions.diff_snapshots(db, plan.ruta, 1, 2)
    assert [(item.kind, item.label) for item in changed] == [("changed", "Meta 1.1")]
    assert {field.name for field in changed[0].fields} >= {"cantidad", "enunciado"}


def test_an_added_actividad_appears_only_in_reports_after_the_approval(
        db: Session, plan: Plan) -> None:
    report = opened(db, plan)  # June 2024: before any adjustment
    adjustment = changes.create_adjustment(db, plan.ruta, actor=plan.rector,
                                           token=None).adjustment
    changes.add_change(db, adjustment, actor=plan.equipo, kind=ChangeKind.ADD,
                       element_kind="actividad", element_id=None, form=actividad_form(plan),
                       justification="La biblioteca abrió un espacio nuevo.", token=None)
    db.commit()
    actions.send(db, adjustment, actor=plan.rector, expected_version=adjustment.version)
    actions.approve(db, adjustment, reviewer=plan.revisor, expected_version=adjustment.version,
                    rubric=rubric(), now=bogota(date(2025, 3, 10)))
    db.commit()
    added = adjustment.changes[0].result_element_id
    assert db.get(Actividad, added).descripcion.startswith("Clubes de lectura")
    assert report_version(db, report).number == 1
    assert [view.actividad.id for view in seguimiento.line_views(db, report)] == [
        plan.first.id, plan.second.id]
    later = [row for row in plan.checkpoints if row.due_on >= date(2025, 3, 10)][0]
    assert version_in_force(db, plan.ruta, later.due_on).number == 2
    assert version_in_force(db, plan.ruta, date(2025, 3, 9)).number == 1


def test_a_sent_report_keeps_its_version_and_its_descriptions(db: Session,
                                                              plan: Plan) -> None:
    report = sent(db, plan, now=bogota(date(2024, 6, 27)))
    assert report.pmi_snapshot_id == versions.latest(db, plan.ruta).id
    adjustment = changes.create_adjustment(db, plan.ruta, actor=plan.rector,
                                           token=None).adjustment
    form = actividad_form(plan, meta_id=str(plan.first.meta_id),
                          descripcion="Talleres de lectura crítica con textos de prensa.",
                          fecha_inicio="2024-02-01", fecha_fin="2024-12-31")
    changes.add_change(db, adjustment, actor=plan.rector, kind=ChangeKind.CHANGE,
                       element_kind="actividad", element_id=plan.first.id, form=form,
                       justification="Se amplió a textos de prensa.", token=None)
    db.commit()
    actions.send(db, adjustment, actor=plan.rector, expected_version=adjustment.version)
    actions.approve(db, adjustment, reviewer=plan.revisor, expected_version=adjustment.version,
                    rubric=rubric())
    db.commit()
    report = reload(db, report)
    views = seguimiento.line_views(db, report)
    assert views[0].descripcion == "Talleres de lectura"
    assert db.get(Actividad, plan.first.id).descripcion.startswith("Talleres de lectura crítica")
    assert db.scalar(select(func.count()).select_from(PmiSnapshot)) == 2


def test_a_removal_that_became_impossible_refuses_approval(db: Session, plan: Plan) -> None:
    adjustment = changes.create_adjustment(db, plan.ruta, actor=plan.rector,
                                           token=None).adjustment
    changes.add_change(db, adjustment, actor=plan.rector, kind=ChangeKind.REMOVE,
                       element_kind="actividad", element_id=plan.second.id, form={},
                       justification="Se cumplió antes de empezar el seguimiento.", token=None)
    db.commit()
    actions.send(db, adjustment, actor=plan.rector, expected_version=adjustment.version)
    db.commit()
    sent(db, plan)  # meanwhile a report speaks of it
    with pytest.raises(GuardFailed) as refused:
        actions.approve(db, adjustment, reviewer=plan.revisor,
                        expected_version=adjustment.version, rubric=rubric())
    db.rollback()
    assert refused.value.reasons[0].startswith("No se puede eliminar la Actividad 1.1.2")
    assert db.get(Actividad, plan.second.id) is not None
    assert reload(db, adjustment).state is S.ENVIADO


def test_a_stale_decision_is_a_conflict(db: Session, plan: Plan) -> None:
    adjustment = submitted(db, plan)
    with pytest.raises(actions.StaleAdjustment):
        actions.approve(db, adjustment, reviewer=plan.revisor,
                        expected_version=adjustment.version - 1, rubric=rubric())


def test_form_for_is_unaffected_by_versions(plan: Plan) -> None:
    assert f"avance-{plan.first.id}" in form_for(plan)
    assert datetime(2024, 1, 1, tzinfo=UTC) < datetime(2025, 1, 1, tzinfo=UTC)


def test_ruta_states_draws_the_adjustment_machine_after_the_rutas() -> None:
    from click.testing import CliRunner

    from ruta.cli import states_command
    from workflow.states import mermaid_diagram as ruta_diagram

    output = CliRunner().invoke(states_command, ["--format", "mermaid"]).output
    assert output.startswith(ruta_diagram().rstrip())
    assert output.rstrip().endswith(mermaid_diagram().rstrip())
    table = CliRunner().invoke(states_command, ["--format", "table"]).output
    assert "devuelto → enviado" in table


def test_readme_draws_the_generated_adjustment_diagram() -> None:
    from ruta.config import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text()
    assert f"```mermaid\n{mermaid_diagram().rstrip()}\n```" in readme


def test_the_demo_adjustment_waits_for_the_secretaria(db: Session, plan: Plan) -> None:
    from demo.ajustes import seed_demo_adjustment

    # The demo plans' actividades are sentences, as the rules ask (the fixture's are short).
    plan.first.descripcion = "Talleres de lectura crítica para los grados noveno a once."
    plan.first.responsable = "Coordinación académica"
    plan.first.recursos = "Biblioteca escolar"
    plan.first.fuente_financiacion = "Recursos propios"
    db.commit()
    adjustment = seed_demo_adjustment(db, plan.ruta, rector=plan.rector)
    db.commit()
    assert adjustment is not None and reload(db, adjustment).state is S.ENVIADO
    assert seed_demo_adjustment(db, plan.ruta, rector=plan.rector) is None


def test_removing_an_indicador_with_a_final_result_is_refused(db: Session, plan: Plan) -> None:
    from workflow.cierre.models import IndicatorResult

    db.add(IndicatorResult(ruta_id=plan.ruta.id, indicador_id=plan.indicador.id, valor=44))
    db.commit()
    adjustment = changes.create_adjustment(db, plan.ruta, actor=plan.rector,
                                           token=None).adjustment
    with pytest.raises(InvalidInput) as refused:
        changes.add_change(db, adjustment, actor=plan.rector, kind=ChangeKind.REMOVE,
                           element_kind="indicador", element_id=plan.indicador.id, form={},
                           justification="Ya no se mide.", token=None)
    assert refused.value.errors["elemento_id"] == [
        "No se puede eliminar el Indicador 1.1.1: la evaluación final ya registra sus "
        "resultados. Modifíquelo en el ajuste en lugar de eliminarlo."]


def test_two_reviewers_deciding_at_once_one_wins(app: object, backend: str, db: Session,
                                                 plan: Plan) -> None:
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")
    adjustment = submitted(db, plan)
    version = adjustment.version
    factory = app.extensions["ruta_db"].session_factory  # type: ignore[attr-defined]

    def decide(approving: bool) -> str:
        with factory() as session:
            row = session.get(PlanAdjustment, adjustment.id)
            reviewer = session.get(type(plan.revisor), plan.revisor.id)
            if approving:
                actions.approve(session, row, reviewer=reviewer, expected_version=version,
                                rubric=rubric())
            else:
                actions.return_adjustment(session, row, reviewer=reviewer,
                                          expected_version=version, rubric=rubric(),
                                          observations={}, note="Revise la meta.")
            session.commit()
            return "ok"

    results = run_together(lambda: decide(True), lambda: decide(False))
    assert sorted(type(result).__name__ for result in results) == ["StaleAdjustment", "str"]
    events = db.scalar(select(func.count()).select_from(AdjustmentEvent).where(
        AdjustmentEvent.trigger.in_(["aprobar", "devolver"])))
    assert events == 1
