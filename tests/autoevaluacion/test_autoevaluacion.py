"""The autoevaluación's services: valoración, team, identity, the real guard, perfil, priorities."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSING_RUBRIC, Factory, WebClient
from workflow.autoevaluacion import actions as auto_actions
from workflow.autoevaluacion.models import IdentityReview, Valoracion, Vigencia
from workflow.autoevaluacion.perfil import (
    PriorityInput,
    Rated,
    classification_for,
    classify,
    compute_perfil,
    perfil_for,
    priorities_of,
    rated_items,
    save_priorities,
    top_oportunidades,
)
from workflow.autoevaluacion.ratings import (
    Progress,
    RatingInput,
    SaveResult,
    missing_items,
    progress_by_area,
    save_proceso,
    valoraciones,
)
from workflow.autoevaluacion.team import (
    IdentityData,
    MemberData,
    add_member,
    editable_area_ids,
    identity_gaps,
    member_for,
    remove_member,
    save_identity,
    set_member_areas,
    start_self_assessment,
    team,
)
from workflow.catalogo.catalog import (
    Rules,
    current_rule_set,
    load_shipped_catalogs,
    set_rules,
)
from workflow.catalogo.models import Catalog, CatalogComponente, CatalogProceso
from workflow.errors import Forbidden, GuardFailed, InvalidInput, NotEditable
from workflow.models import OutboxMessage, Ruta, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi import review
from workflow.roles import Role
from workflow.states import ReturnTarget, State

NOT_EDITABLE = ("La autoevaluación ya fue enviada y no se puede modificar. Solo vuelve a ser "
                "editable si la Secretaría devuelve la Ruta a la autoevaluación.")
COMPLETE_IDENTITY = IdentityData(
    mision="Formar ciudadanos críticos.", vision="Ser referente en 2030.",
    principios="Respeto, responsabilidad y solidaridad.", pei_reference="Acuerdo 04 de 2021",
    mision_vigencia="vigente", vision_vigencia="ajustar", principios_vigencia="vigente",
    notes="La visión debe fijar metas medibles.")


@dataclass
class School:
    ruta: Ruta
    rector: User
    catalog: Catalog

    def proceso(self, code: str) -> CatalogProceso:
        return next(proceso for area in self.catalog.areas for proceso in area.procesos
                    if proceso.code == code)

    def componente(self, code: str) -> CatalogComponente:
        return next(c for c in self.catalog.componentes if c.code == code)

    def area_id(self, code: str) -> str:
        return str(next(area.id for area in self.catalog.areas if area.code == code))


@pytest.fixture
def school(db: Session, make: Factory) -> School:
    catalog = make.catalog()
    ruta = make.ruta(catalog=catalog)
    return School(ruta, make.user(Role.RECTOR, school=ruta.school), catalog)


def rate(db: Session, school: School, proceso: str, levels: dict[str, str], *,
         actor: User | None = None, evidence: str = "Acta 2 de 2024.") -> SaveResult:
    entries = {school.componente(code).id: RatingInput(level, evidence if level else "")
               for code, level in levels.items()}
    return save_proceso(db, school.ruta, school.proceso(proceso), entries,
                        actor=actor or school.rector)


def rate_everything(db: Session, school: School, level: str = "3") -> None:
    rate(db, school, "DIR.1", {"DIR.1.1": level, "DIR.1.2": level})
    rate(db, school, "DIR.2", {"DIR.2.1": level})
    rate(db, school, "ACA.1", {"ACA.1.1": level, "ACA.1.2": level})


def stored(db: Session, ruta: Ruta) -> dict[str, tuple[int | None, str, str]]:
    db.expire_all()
    rows = db.scalars(select(Valoracion).where(Valoracion.ruta_id == ruta.id))
    return {row.componente.code: (row.level, row.evidence, row.comments) for row in rows}


def member(db: Session, make: Factory, school: School, areas: list[str],
           email: str = "docente@prueba.co") -> User:
    """An ``equipo`` account on the team with ``areas``."""
    user = make.user(Role.EQUIPO, school=school.ruta.school, email=email)
    add_member(db, school.ruta, MemberData(
        name="Docente de matemáticas", email=email, estamento="docente",
        area_ids=[school.area_id(code) for code in areas]), actor=school.rector)
    return user


# --- valoración -----------------------------------------------------------------------------


def test_saving_a_proceso_stores_levels_evidence_and_comments(db: Session,
                                                              school: School) -> None:
    entries = {
        school.componente("DIR.1.1").id: RatingInput("3", "  PEI socializado en 2024. ",
                                                     "Falta la jornada de la tarde."),
        school.componente("DIR.1.2").id: RatingInput("2", "", ""),
    }
    result = save_proceso(db, school.ruta, school.proceso("DIR.1"), entries,
                          actor=school.rector)
    db.commit()
    assert (result.saved, result.missing_evidence) == (2, [])
    assert stored(db, school.ruta) == {
        "DIR.1.1": (3, "PEI socializado en 2024.", "Falta la jornada de la tarde."),
        "DIR.1.2": (2, "", ""),
    }


def test_a_level_that_requires_evidence_is_saved_and_flagged(db: Session,
                                                             school: School) -> None:
    result = rate(db, school, "DIR.1", {"DIR.1.1": "4"}, evidence="")
    assert [componente.code for componente in result.missing_evidence] == ["DIR.1.1"]
    assert stored(db, school.ruta) == {"DIR.1.1": (4, "", "")}


def test_blank_level_keeps_a_draft_without_rating_it(db: Session, school: School) -> None:
    save_proceso(db, school.ruta, school.proceso("DIR.1"), {
        school.componente("DIR.1.1").id: RatingInput("", "Borrador de evidencia", ""),
        school.componente("DIR.1.2").id: RatingInput("", "", "")}, actor=school.rector)
    assert stored(db, school.ruta) == {"DIR.1.1": (None, "Borrador de evidencia", "")}
    progress = progress_by_area(school.catalog, valoraciones(db, school.ruta))
    assert progress == {"DIR": Progress(0, 3), "ACA": Progress(0, 2)}


@pytest.mark.parametrize("level", ["0", "5", "7", "-1", "tres", "3.5"])
def test_level_outside_one_to_four_is_refused_and_nothing_saved(db: Session, school: School,
                                                                level: str) -> None:
    good, bad = school.componente("DIR.1.1"), school.componente("DIR.1.2")
    with pytest.raises(InvalidInput) as refused:
        save_proceso(db, school.ruta, school.proceso("DIR.1"), {
            good.id: RatingInput("3", "Acta.", ""),
            bad.id: RatingInput(level, "", "")}, actor=school.rector)
    assert refused.value.errors == {f"nivel-{bad.id}": [
        f"«DIR.1.2 Metas institucionales»: el nivel debe ser 1, 2, 3 o 4 (llegó «{level}»)."]}
    db.rollback()
    assert stored(db, school.ruta) == {}


def test_unknown_componente_is_refused(db: Session, school: School) -> None:
    with pytest.raises(InvalidInput) as refused:
        save_proceso(db, school.ruta, school.proceso("DIR.1"), {
            999_999: RatingInput("3", "Acta.", "")}, actor=school.rector)
    assert refused.value.errors == {"nivel-999999": ["No existe el componente número 999999."]}


def test_componente_of_another_catalog_version_is_refused(db: Session, make: Factory,
                                                          school: School) -> None:
    other = make.catalog("prueba-otra-version")
    stranger = next(c for c in other.componentes if c.code == "DIR.1.1")
    with pytest.raises(InvalidInput) as refused:
        save_proceso(db, school.ruta, school.proceso("DIR.1"), {
            school.componente("DIR.1.2").id: RatingInput("2", "", ""),
            stranger.id: RatingInput("3", "Acta.", "")}, actor=school.rector)
    assert refused.value.errors == {f"nivel-{stranger.id}": [
        "El componente «DIR.1.1 Misión, visión y principios» es de otra versión del instrumento "
        "(«prueba-otra-version»), no de la que usa esta Ruta («prueba-mini»)."]}
    db.rollback()
    assert stored(db, school.ruta) == {}


def test_componente_of_another_proceso_is_refused(db: Session, school: School) -> None:
    elsewhere = school.componente("ACA.1.1")
    with pytest.raises(InvalidInput) as refused:
        save_proceso(db, school.ruta, school.proceso("DIR.1"), {
            elsewhere.id: RatingInput("3", "Acta.", "")}, actor=school.rector)
    assert refused.value.errors == {f"nivel-{elsewhere.id}": [
        "El componente «ACA.1.1» no es del proceso «Direccionamiento estratégico»: valórelo en "
        "su propio proceso."]}


def test_too_long_evidence_is_refused(db: Session, school: School) -> None:
    componente = school.componente("DIR.1.1")
    with pytest.raises(InvalidInput) as refused:
        save_proceso(db, school.ruta, school.proceso("DIR.1"), {
            componente.id: RatingInput("3", "x" * 5001, "")}, actor=school.rector)
    assert refused.value.errors == {f"evidencia-{componente.id}": [
        "«DIR.1.1»: la evidencia no puede pasar de 5000 caracteres."]}


@pytest.mark.parametrize("state", [state for state in State if state is not State.BORRADOR])
def test_edits_after_submission_are_refused(db: Session, make: Factory, state: State) -> None:
    catalog = make.catalog()
    ruta = make.ruta(state=state, catalog=catalog)
    rector = make.user(Role.RECTOR, school=ruta.school)
    proceso = catalog.areas[0].procesos[0]
    with pytest.raises(NotEditable) as refused:
        save_proceso(db, ruta, proceso, {
            proceso.componentes[0].id: RatingInput("3", "Acta.", "")}, actor=rector)
    assert (refused.value.message, refused.value.status) == (NOT_EDITABLE, 409)
    with pytest.raises(NotEditable):
        save_identity(db, ruta, COMPLETE_IDENTITY, actor=rector)
    assert db.scalar(select(func.count()).select_from(Valoracion)) == 0


def test_a_return_to_the_autoevaluacion_reopens_editing(db: Session, make: Factory,
                                                        school: School) -> None:
    rate_everything(db, school)
    save_identity(db, school.ruta, COMPLETE_IDENTITY, actor=school.rector)
    make.add_team(school.ruta)
    ruta = school.ruta
    auto_actions.submit_self_assessment(db, ruta, actor=school.rector,
                                        expected_version=ruta.version)
    with pytest.raises(NotEditable):
        rate(db, school, "DIR.2", {"DIR.2.1": "4"})
    ruta.state = State.EN_REVISION
    db.flush()
    reviewer = make.user(Role.REVISOR)
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="1",
                           text="Revisen las valoraciones.")
    pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                         expected_version=ruta.version, observations="Revisen.",
                                         target=ReturnTarget.AUTOEVALUACION, rubric=PASSING_RUBRIC)
    rate(db, school, "DIR.2", {"DIR.2.1": "4"})
    assert stored(db, ruta)["DIR.2.1"] == (4, "Acta 2 de 2024.", "")


# --- the equipo de gestión --------------------------------------------------------------------


def test_member_rates_only_the_areas_assigned(db: Session, make: Factory,
                                              school: School) -> None:
    teacher = member(db, make, school, ["ACA"])
    rate(db, school, "ACA.1", {"ACA.1.1": "2"}, actor=teacher)
    with pytest.raises(Forbidden) as refused:
        rate(db, school, "DIR.1", {"DIR.1.1": "3"}, actor=teacher)
    assert refused.value.message == (
        "Usted no tiene asignada el área «Gestión directiva». Solo puede valorar las áreas que "
        "le asignó el rector o la rectora.")
    assert stored(db, school.ruta) == {"ACA.1.1": (2, "Acta 2 de 2024.", "")}
    assert editable_area_ids(db, school.ruta, teacher) == {int(school.area_id("ACA"))}


def test_equipo_account_not_on_the_team_rates_nothing(db: Session, make: Factory,
                                                      school: School) -> None:
    outsider = make.user(Role.EQUIPO, school=school.ruta.school)
    with pytest.raises(Forbidden):
        rate(db, school, "ACA.1", {"ACA.1.1": "2"}, actor=outsider)
    assert editable_area_ids(db, school.ruta, outsider) == set()


def test_member_works_with_the_school_equipo_account_of_that_email(db: Session, make: Factory,
                                                                   school: School) -> None:
    account = make.user(Role.EQUIPO, school=school.ruta.school, email="enlazada@prueba.co")
    linked = add_member(db, school.ruta, MemberData(
        name="Enlazada", email=" Enlazada@Prueba.co ", estamento="docente"),
        actor=school.rector)
    newcomer = add_member(db, school.ruta, MemberData(
        name="Llega Nueva", email="nueva@prueba.co", estamento="estudiante",
        area_ids=[school.area_id("ACA")]), actor=school.rector)

    assert (linked.email, linked.user_id) == ("enlazada@prueba.co", account.id)
    created = db.get(User, newcomer.user_id)
    assert (created.email, created.name, created.role, created.school_id, created.active,
            created.password_hash) == ("nueva@prueba.co", "Llega Nueva", Role.EQUIPO,
                                       school.ruta.school_id, True, None)
    assert member_for(db, school.ruta, created) is newcomer
    assert editable_area_ids(db, school.ruta, created) == {int(school.area_id("ACA"))}


def test_member_email_of_another_school_or_the_secretaria_is_refused(
        db: Session, make: Factory, school: School) -> None:
    make.user(Role.EQUIPO, email="ajena@prueba.co")
    make.user(Role.REVISOR, email="revisora@prueba.co")
    for email in ("ajena@prueba.co", "revisora@prueba.co"):
        with pytest.raises(InvalidInput) as refused:
            add_member(db, school.ruta, MemberData(
                name="Otra", email=email, estamento="egresado"), actor=school.rector)
        assert refused.value.errors == {"email": [
            "Ese correo ya es de una cuenta de otra institución o de la Secretaría. Use el "
            "correo personal o institucional de esta persona en su colegio."]}
    assert team(db, school.ruta) == []


def test_adding_a_member_queues_an_invitation_that_opens_the_account(
        db: Session, make: Factory, school: School, web: WebClient) -> None:
    add_member(db, school.ruta, MemberData(
        name="Rosa Quiroga", email="rosa@prueba.co", estamento="padre_madre",
        area_ids=[school.area_id("ACA"), school.area_id("DIR")]), actor=school.rector)
    db.commit()
    [message] = db.scalars(select(OutboxMessage)).all()
    assert (message.kind, message.recipients, message.ruta_id, message.dedupe_key) == (
        "equipo_invitacion", ["rosa@prueba.co"], school.ruta.id,
        f"equipo_invitacion:{school.ruta.id}:rosa@prueba.co")
    assert message.subject == (f"Rosa Quiroga: usted hace parte del equipo de gestión de "
                               f"{school.ruta.school.name}")
    assert "- Gestión directiva\n- Gestión académica\n" in message.text_body
    assert "padre o madre de familia" in message.text_body
    assert f"/rutas/{school.ruta.id}/autoevaluacion" in message.text_body
    assert "Primero active su cuenta" in message.text_body

    assert "«enlace personal (oculto)»" in message.text_body
    link = re.search(r"/invitacion/[A-Za-z0-9_-]+", message.secret_link).group(0)
    web.get(link, follow_redirects=True)
    assert web.post("/invitacion", {"new": "una frase de la familia", "confirm":
                                    "una frase de la familia"}).status_code == 302
    assert web.login("rosa@prueba.co", "una frase de la familia").status_code == 302
    assert web.get(f"/rutas/{school.ruta.id}/autoevaluacion").status_code == 200


def test_bad_member_data_is_refused_with_every_reason(db: Session, make: Factory,
                                                      school: School) -> None:
    add_member(db, school.ruta, MemberData(
        name="Ya está", email="ya@prueba.co", estamento="docente"), actor=school.rector)
    foreign_area = make.catalog("prueba-ajena").areas[0].id
    with pytest.raises(InvalidInput) as refused:
        add_member(db, school.ruta, MemberData(
            name="  ", email="ya@prueba.co", estamento="rector",
            area_ids=[str(foreign_area)]), actor=school.rector)
    assert refused.value.errors == {
        "name": ["Escriba el nombre completo."],
        "email": ["Ya hay un integrante del equipo con ese correo."],
        "estamento": ["Elija el estamento que representa."],
        "areas": ["Una de las áreas elegidas no es de esta Ruta."],
    }
    assert len(team(db, school.ruta)) == 1


def test_only_the_rector_manages_the_team(db: Session, make: Factory, school: School) -> None:
    teacher = member(db, make, school, ["ACA"])
    record = member_for(db, school.ruta, teacher)
    with pytest.raises(Forbidden):
        set_member_areas(db, school.ruta, record, [school.area_id("DIR")], actor=teacher)
    set_member_areas(db, school.ruta, record, [school.area_id("DIR")], actor=school.rector)
    assert [area.code for area in record.areas] == ["DIR"]
    remove_member(db, school.ruta, record, actor=school.rector)
    assert team(db, school.ruta) == []
    assert editable_area_ids(db, school.ruta, teacher) == set()


# --- identity ------------------------------------------------------------------------------


def test_identity_review_saves_and_reports_what_is_missing(db: Session,
                                                           school: School) -> None:
    partial = save_identity(db, school.ruta, IdentityData(
        mision="  Formar ciudadanos críticos. ", vision_vigencia="ajustar"),
        actor=school.rector)
    assert identity_gaps(partial) == [
        "escribir la visión", "escribir los principios", "escribir la referencia del PEI",
        "decir si la misión sigue vigente", "decir si los principios siguen vigentes",
        "explicar en las notas qué ajustar"]
    complete = save_identity(db, school.ruta, COMPLETE_IDENTITY, actor=school.rector)
    assert complete is partial
    assert (complete.mision, complete.vision_vigencia, identity_gaps(complete)) == (
        "Formar ciudadanos críticos.", Vigencia.AJUSTAR, [])


def test_identity_with_a_bad_verdict_is_refused(db: Session, school: School) -> None:
    with pytest.raises(InvalidInput) as refused:
        save_identity(db, school.ruta, IdentityData(mision_vigencia="quizas"),
                      actor=school.rector)
    assert refused.value.errors == {
        "mision_vigencia": ["La misión: elija «Sigue vigente» o «Requiere ajustes»."]}
    assert db.get(IdentityReview, school.ruta.id) is None


def test_identity_is_reviewed_by_the_rector_and_the_directiva_team(db: Session, make: Factory,
                                                                   school: School) -> None:
    academic = member(db, make, school, ["ACA"], email="academica@prueba.co")
    directive = member(db, make, school, ["DIR"], email="directiva@prueba.co")
    with pytest.raises(Forbidden):
        save_identity(db, school.ruta, COMPLETE_IDENTITY, actor=academic)
    assert save_identity(db, school.ruta, COMPLETE_IDENTITY,
                         actor=directive).updated_by_id == directive.id


# --- the guard of enviar_autoevaluacion ------------------------------------------------------


def test_submission_lists_exactly_what_is_missing(db: Session, make: Factory,
                                                   school: School) -> None:
    make.add_team(school.ruta)
    rate(db, school, "DIR.1", {"DIR.1.1": "3", "DIR.1.2": "4"}, evidence="")
    rate(db, school, "ACA.1", {"ACA.1.1": "1"})
    save_identity(db, school.ruta, IdentityData(mision="Formar ciudadanos críticos."),
                  actor=school.rector)
    ruta = school.ruta
    with pytest.raises(GuardFailed) as refused:
        auto_actions.submit_self_assessment(db, ruta, actor=school.rector,
                                            expected_version=ruta.version)
    assert refused.value.reasons == [
        "Revisión de la identidad institucional: falta escribir la visión, escribir los "
        "principios, escribir la referencia del PEI, decir si la misión sigue vigente, decir "
        "si la visión sigue vigente y decir si los principios siguen vigentes.",
        "DIR.1.1 Misión, visión y principios: valorado en 3, le falta la evidencia.",
        "DIR.1.2 Metas institucionales: valorado en 4, le falta la evidencia.",
        "Gestión directiva › Gobierno escolar: falta 1 de 1 componente por valorar (DIR.2.1).",
        "Gestión académica › Diseño pedagógico: falta 1 de 2 componentes por valorar "
        "(ACA.1.2).",
    ]
    assert ruta.state is State.BORRADOR
    missing = missing_items(db, ruta)
    assert [(item.kind, item.area_code) for item in missing] == [
        ("identity", None), ("evidence", "DIR"), ("evidence", "DIR"), ("rating", "DIR"),
        ("rating", "ACA")]
    assert missing[3].proceso_id == school.proceso("DIR.2").id


def test_complete_autoevaluacion_is_submitted(db: Session, make: Factory,
                                             school: School) -> None:
    rate_everything(db, school)
    save_identity(db, school.ruta, COMPLETE_IDENTITY, actor=school.rector)
    make.add_team(school.ruta)
    assert missing_items(db, school.ruta) == []
    auto_actions.submit_self_assessment(db, school.ruta, actor=school.rector,
                                        expected_version=school.ruta.version)
    assert school.ruta.state is State.AUTOEVALUACION_ENVIADA


def test_ruta_without_an_instrument_cannot_be_submitted(db: Session, make: Factory) -> None:
    ruta = make.ruta()
    rector = make.user(Role.RECTOR, school=ruta.school)
    with pytest.raises(GuardFailed) as refused:
        auto_actions.submit_self_assessment(db, ruta, actor=rector, expected_version=ruta.version)
    assert refused.value.reasons == [
        "La Ruta no tiene instrumento de autoevaluación: el rector o la rectora debe empezar "
        "la autoevaluación con el instrumento vigente de la Secretaría."]


def test_evidence_requirement_is_the_rule_set_of_the_ruta(db: Session, make: Factory,
                                                          school: School) -> None:
    rate_everything(db, school, level="4")
    for code in ("DIR.1.1", "DIR.1.2", "DIR.2.1", "ACA.1.1", "ACA.1.2"):
        db.scalar(select(Valoracion).where(
            Valoracion.componente_id == school.componente(code).id)).evidence = ""
    save_identity(db, school.ruta, COMPLETE_IDENTITY, actor=school.rector)
    make.add_team(school.ruta)
    assert len(missing_items(db, school.ruta)) == 5
    admin = make.user(Role.ADMINISTRADOR, secretaria=school.ruta.school.secretaria)
    set_rules(db, actor=admin, evidence_from_level="5", fortaleza_from_level="3")
    # The Ruta keeps the rules it opened with: the Secretaría's change is for later Rutas.
    assert len(missing_items(db, school.ruta)) == 5
    school.ruta.rule_set_id = current_rule_set(db, admin.secretaria_id).id
    assert missing_items(db, school.ruta) == []


def test_legacy_ruta_starts_with_the_current_catalog(db: Session, make: Factory) -> None:
    ruta = make.ruta()
    rector = make.user(Role.RECTOR, school=ruta.school)
    with pytest.raises(NotEditable) as refused:
        start_self_assessment(db, ruta, actor=rector)
    assert refused.value.message == (
        "La Secretaría todavía no tiene un instrumento de autoevaluación cargado. Pida a la "
        "administración que cargue uno.")
    with pytest.raises(Forbidden):
        start_self_assessment(db, ruta, actor=make.user(Role.REVISOR))
    guia_2008 = load_shipped_catalogs(db)[0]
    assert start_self_assessment(db, ruta, actor=rector) is guia_2008
    assert ruta.catalog_id == guia_2008.id


@pytest.mark.postgres
def test_a_save_waits_for_a_submission_in_progress_and_is_then_refused(
        backend: str, app: Flask, db: Session, make: Factory, school: School) -> None:
    if backend != "postgresql":
        pytest.skip("row locks need PostgreSQL: SQLite serializes writers and hides the race")
    rate_everything(db, school)
    save_identity(db, school.ruta, COMPLETE_IDENTITY, actor=school.rector)
    make.add_team(school.ruta)
    db.commit()
    factory = app.extensions["ruta_db"].session_factory
    outcome: dict[str, Any] = {}

    with factory() as submitting:
        ruta = submitting.get(Ruta, school.ruta.id)
        rector = submitting.get(User, school.rector.id)
        # The guard has run (and locked the Ruta); the transaction is still open.
        auto_actions.submit_self_assessment(submitting, ruta, actor=rector,
                                            expected_version=ruta.version)

        def clear_a_level() -> None:
            with factory() as saving:
                mine = saving.get(Ruta, school.ruta.id)
                proceso = saving.get(CatalogProceso, school.proceso("ACA.1").id)
                try:
                    save_proceso(saving, mine, proceso, {
                        school.componente("ACA.1.2").id: RatingInput("", "", "")},
                        actor=saving.get(User, school.rector.id))
                    saving.commit()
                    outcome["saved"] = True
                except NotEditable as refused:
                    outcome["refused"] = refused.message

        saver = threading.Thread(target=clear_a_level)
        saver.start()
        time.sleep(0.5)
        assert saver.is_alive()  # blocked on the Ruta's row
        submitting.commit()
    saver.join(timeout=10)
    assert outcome == {"refused": NOT_EDITABLE}
    db.expire_all()
    assert missing_items(db, db.get(Ruta, school.ruta.id)) == []


# --- perfil ----------------------------------------------------------------------------------


def item(area: str, proceso: str, code: str, level: int | None) -> Rated:
    return Rated(area, f"Área {area}", proceso, f"Proceso {proceso}", code,
                 f"Componente {code}", level)


ITEMS = [item("DIR", "DIR.1", "DIR.1.1", 1), item("DIR", "DIR.1", "DIR.1.2", 2),
         item("DIR", "DIR.2", "DIR.2.1", 4), item("ACA", "ACA.1", "ACA.1.1", 3),
         item("ACA", "ACA.1", "ACA.1.2", None)]


def test_perfil_averages_and_counts_per_level() -> None:
    perfil = compute_perfil(ITEMS)
    summary = [(area.code, area.tally.counts, area.tally.total, area.tally.average,
                [(p.code, p.tally.counts, p.tally.average) for p in area.procesos])
               for area in perfil.areas]
    assert summary == [
        ("DIR", {1: 1, 2: 1, 3: 0, 4: 1}, 3, 7 / 3,
         [("DIR.1", {1: 1, 2: 1, 3: 0, 4: 0}, 1.5), ("DIR.2", {1: 0, 2: 0, 3: 0, 4: 1}, 4.0)]),
        ("ACA", {1: 0, 2: 0, 3: 1, 4: 0}, 2, 3.0,
         [("ACA.1", {1: 0, 2: 0, 3: 1, 4: 0}, 3.0)]),
    ]
    assert (perfil.overall.rated, perfil.overall.unrated, perfil.overall.average) == (4, 1, 2.5)
    assert perfil.previous_overall is None


def test_perfil_compares_with_the_previous_ruta() -> None:
    previous = [item("DIR", "DIR.1", "DIR.1.1", 1), item("DIR", "DIR.2", "DIR.2.1", 1),
                item("COM", "COM.1", "COM.1.1", 2)]
    by_area = compute_perfil(ITEMS, previous)
    assert [(area.code, area.previous) for area in by_area.areas] == [("DIR", 1.0),
                                                                      ("ACA", None)]
    assert [p.previous for p in by_area.areas[0].procesos] == [None, None]
    assert by_area.previous_overall == 4 / 3
    same_catalog = compute_perfil(ITEMS, previous, compare_procesos=True)
    assert [p.previous for p in same_catalog.areas[0].procesos] == [1.0, 1.0]


def test_perfil_of_a_ruta_with_a_previous_one(db: Session, make: Factory,
                                              school: School) -> None:
    earlier = Ruta(school=school.ruta.school, horizon_start_year=2021, horizon_end_year=2023,
                   state=State.CERRADO, catalog_id=school.catalog.id)
    db.add(earlier)
    db.flush()
    for componente in school.catalog.componentes:
        db.add(Valoracion(ruta_id=earlier.id, componente_id=componente.id, level=1))
    rate_everything(db, school, level="3")
    perfil, before = perfil_for(db, school.ruta)
    assert before is earlier
    assert [(area.code, area.tally.average, area.previous) for area in perfil.areas] == [
        ("DIR", 3.0, 1.0), ("ACA", 3.0, 1.0)]
    assert [p.previous for p in perfil.areas[0].procesos] == [1.0, 1.0]


# --- fortalezas, oportunidades, priorities --------------------------------------------------


def test_cutoff_splits_fortalezas_and_oportunidades() -> None:
    default = classify(ITEMS, Rules())
    assert [i.code for i in default.fortalezas] == ["DIR.2.1", "ACA.1.1"]
    assert [o.item.code for o in default.oportunidades] == ["DIR.1.1", "DIR.1.2"]
    strict = classify(ITEMS, Rules(fortaleza_from_level=4))
    assert [i.code for i in strict.fortalezas] == ["DIR.2.1"]
    assert [o.item.code for o in strict.oportunidades] == ["DIR.1.1", "DIR.1.2", "ACA.1.1"]


def test_oportunidades_are_ordered_by_priority(db: Session, make: Factory,
                                               school: School) -> None:
    rate(db, school, "DIR.1", {"DIR.1.1": "1", "DIR.1.2": "2"})
    rate(db, school, "DIR.2", {"DIR.2.1": "2"})
    rate(db, school, "ACA.1", {"ACA.1.1": "2", "ACA.1.2": "3"})
    changed = save_priorities(db, school.ruta, {
        school.componente("DIR.2.1").id: PriorityInput("5", "4", "5"),
        school.componente("ACA.1.1").id: PriorityInput("2", "2", "2"),
    }, actor=school.rector)
    ordered = classification_for(db, school.ruta).oportunidades
    assert changed == 2
    # The default formula adds urgencia, tendencia and impacto.
    assert [(o.item.code, o.score) for o in ordered] == [
        ("DIR.2.1", 14), ("ACA.1.1", 6), ("DIR.1.1", None), ("DIR.1.2", None)]
    admin = make.user(Role.ADMINISTRADOR, secretaria=school.ruta.school.secretaria)
    set_rules(db, actor=admin, priority_formula="producto")
    school.ruta.rule_set_id = current_rule_set(db, admin.secretaria_id).id
    assert [(o.item.code, o.score) for o in classification_for(db, school.ruta).oportunidades][
        :2] == [("DIR.2.1", 100), ("ACA.1.1", 8)]
    assert [o.item.code for o in top_oportunidades(db, school.ruta, 2)] == [
        "DIR.2.1", "ACA.1.1"]
    # All three blank clears a priority.
    save_priorities(db, school.ruta, {
        school.componente("ACA.1.1").id: PriorityInput("", "", "")}, actor=school.rector)
    assert set(priorities_of(db, school.ruta)) == {school.componente("DIR.2.1").id}


def test_bad_priorities_are_refused_and_nothing_saved(db: Session, make: Factory,
                                                      school: School) -> None:
    rate(db, school, "DIR.1", {"DIR.1.1": "1", "DIR.1.2": "4"})
    rate(db, school, "ACA.1", {"ACA.1.1": "2"})
    teacher = member(db, make, school, ["ACA"])
    weak, strong = school.componente("DIR.1.1"), school.componente("DIR.1.2")
    with pytest.raises(InvalidInput) as refused:
        save_priorities(db, school.ruta, {
            weak.id: PriorityInput("0", "6", "x"),
            strong.id: PriorityInput("3", "3", "3"),
            school.componente("ACA.1.2").id: PriorityInput("3", "3", "3"),
        }, actor=school.rector)
    assert refused.value.errors == {
        f"urgencia-{weak.id}": ["«DIR.1.1»: la urgencia debe ser un número de 1 a 5."],
        f"tendencia-{weak.id}": ["«DIR.1.1»: la tendencia debe ser un número de 1 a 5."],
        f"impacto-{weak.id}": ["«DIR.1.1»: el impacto debe ser un número de 1 a 5."],
        f"urgencia-{strong.id}": ["«DIR.1.2 Metas institucionales» no es una oportunidad de "
                                  "mejoramiento: solo se priorizan las oportunidades."],
        f"urgencia-{school.componente('ACA.1.2').id}": [
            "«ACA.1.2 Evaluación» no es una oportunidad de mejoramiento: solo se priorizan las "
            "oportunidades."],
    }
    with pytest.raises(InvalidInput) as refused:
        save_priorities(db, school.ruta, {weak.id: PriorityInput("3", "3", "3")},
                        actor=teacher)
    assert refused.value.errors == {f"urgencia-{weak.id}": [
        "«DIR.1.1» es del área «Gestión directiva», que usted no tiene asignada."]}
    assert priorities_of(db, school.ruta) == {}


# --- the demo -------------------------------------------------------------------------------


def test_demo_autoevaluaciones_are_complete_past_borrador_and_half_done_in_it(
        app: Flask, db: Session) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--schools", "14", "--password",
                                                "clave-demo-larga"])
    assert result.exit_code == 0, result.output
    # The 2027–2029 Ruta started ahead runs on its horizon's instrument, guia34-2026.
    ahead = db.scalars(select(Ruta).where(Ruta.horizon_start_year == 2027)).one()
    assert ahead.catalog.slug == "guia34-2026" and missing_items(db, ahead) == []
    rutas = db.scalars(select(Ruta).where(Ruta.horizon_start_year < 2027)
                       .order_by(Ruta.id)).all()
    progress = {}
    for ruta in rutas:
        assert ruta.catalog.slug == "guia34-2008"
        items = rated_items(db, ruta)
        progress[ruta.id] = sum(1 for entry in items if entry.level is not None)
        if ruta.state is not State.BORRADOR:
            assert missing_items(db, ruta) == [], ruta.school.name
            assert len({entry.level for entry in items}) >= 3  # varied, plausible levels
            assert len(team(db, ruta)) == 5
    in_borrador = sorted(progress[ruta.id] for ruta in rutas if ruta.state is State.BORRADOR)
    # One never sent (half rated) and one returned to the autoevaluación (complete).
    assert in_borrador == [47, 93]
    half = next(ruta for ruta in rutas if progress[ruta.id] == 47)
    assert half.transitions[-1].trigger == "abrir_ruta"
