"""What sending the autoevaluación requires beyond the ratings (an equipo de gestión of the
rule set's size and estamentos, identity texts that can be read) and the prioritisation that
serves the PMI: not required to send, open while the PMI is formulated, fixed once it is sent.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSING_RUBRIC, Factory, WebClient
from workflow.autoevaluacion import actions as auto_actions
from workflow.autoevaluacion.models import Estamento, IdentityReview, TeamMember
from workflow.autoevaluacion.perfil import (
    LOCKED_MESSAGE,
    PriorityInput,
    classification_for,
    priorities_of,
    save_priorities,
    top_oportunidades,
)
from workflow.autoevaluacion.ratings import missing_items
from workflow.autoevaluacion.team import IdentityData, MemberData, add_member, save_identity
from workflow.catalogo.catalog import current_rule_set, set_rules
from workflow.errors import GuardFailed, InvalidInput, NotEditable
from workflow.models import Ruta, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi import review
from workflow.roles import Role
from workflow.states import ReturnTarget, State

FOUR_DOCENTES = (Estamento.DOCENTE,) * 4
SHORT_IDENTITY = {
    "mision": ["La misión es muy corta: escríbala completa, con al menos 20 caracteres y 3 "
               "palabras."],
    "vision": ["La visión es muy corta: escríbala completa, con al menos 20 caracteres y 3 "
               "palabras."],
    "principios": ["Los principios son muy cortos: escríbalos completos, con al menos 20 "
                   "caracteres y 3 palabras."],
}


def text_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def completed(make: Factory, level: int = 3, **rule_values: Any) -> tuple[Ruta, User]:
    """A Ruta whose autoevaluación is complete (team included), pinned to a rule set built
    from ``rule_values`` when given, and its rector."""
    ruta = make.completed_self_assessment(make.ruta(), level=level)
    rector = make.user(Role.RECTOR, school=ruta.school)
    if rule_values:
        admin = make.user(Role.ADMINISTRADOR, secretaria=ruta.school.secretaria)
        set_rules(make.db, actor=admin, **rule_values)
        ruta.rule_set_id = current_rule_set(make.db, admin.secretaria_id).id
        make.db.flush()
    return ruta, rector


def without_team(db: Session, ruta: Ruta) -> None:
    for member in db.scalars(select(TeamMember).where(TeamMember.ruta_id == ruta.id)):
        db.delete(member)
    db.flush()


# --- the equipo de gestión gate -------------------------------------------------------------


def test_submission_requires_a_team_and_says_what_to_do(db: Session, make: Factory) -> None:
    ruta, rector = completed(make)
    without_team(db, ruta)
    with pytest.raises(GuardFailed) as refused:
        auto_actions.submit_self_assessment(db, ruta, actor=rector,
                                            expected_version=ruta.version)
    assert refused.value.reasons == [
        "El equipo de gestión no tiene integrantes y necesita al menos 4: agregue a los que "
        "faltan en la página del equipo (usted también cuenta si se agrega)."]
    assert [item.kind for item in missing_items(db, ruta)] == ["team"]
    assert ruta.state is State.BORRADOR


def test_submission_requires_enough_members_from_enough_estamentos(db: Session,
                                                                   make: Factory) -> None:
    ruta, rector = completed(make)
    without_team(db, ruta)
    make.add_team(ruta, (Estamento.DOCENTE,) * 3)
    assert [item.message for item in missing_items(db, ruta)] == [
        "El equipo de gestión tiene 3 integrantes y necesita al menos 4: agregue a los que "
        "faltan en la página del equipo (usted también cuenta si se agrega).",
        "El equipo de gestión representa un solo estamento (docente) y necesita al menos 2 "
        "estamentos distintos: agregue integrantes de otros estamentos (docentes, familias, "
        "estudiantes, administrativos, egresados, sector productivo)."]
    add_member(db, ruta, MemberData(name="Luz Marina Yate", email="familia@prueba.co",
                                    estamento="padre_madre"), actor=rector, invite=False)
    assert missing_items(db, ruta) == []
    auto_actions.submit_self_assessment(db, ruta, actor=rector, expected_version=ruta.version)
    assert ruta.state is State.AUTOEVALUACION_ENVIADA


def test_four_members_of_one_estamento_are_not_enough(db: Session, make: Factory) -> None:
    ruta, _ = completed(make)
    without_team(db, ruta)
    make.add_team(ruta, FOUR_DOCENTES)
    assert [item.message[:60] for item in missing_items(db, ruta)] == [
        "El equipo de gestión representa un solo estamento (docente) "]


def test_the_rector_counts_when_listed_on_the_team(db: Session, make: Factory) -> None:
    ruta, rector = completed(make)
    without_team(db, ruta)
    make.add_team(ruta, (Estamento.DOCENTE,) * 3)
    # Listed with their own e-mail (no second account), as directivo.
    listed = add_member(db, ruta, MemberData(name=rector.name, email=rector.email,
                                             estamento="directivo"), actor=rector, invite=False)
    assert listed.user is None
    assert missing_items(db, ruta) == []


def test_team_size_is_the_rule_set_of_the_ruta(db: Session, make: Factory) -> None:
    ruta, _ = completed(make, team_min_members="2", team_min_estamentos="1")
    without_team(db, ruta)
    make.add_team(ruta, (Estamento.DOCENTE,) * 2)
    assert missing_items(db, ruta) == []
    # The Secretaría asks for more later: this Ruta keeps the set it opened with.
    admin = make.user(Role.ADMINISTRADOR, secretaria=ruta.school.secretaria)
    set_rules(db, actor=admin, team_min_members="6", team_min_estamentos="3")
    assert missing_items(db, ruta) == []


# --- identity texts that can be read --------------------------------------------------------


def test_identity_form_refuses_texts_too_short_and_saves_nothing(db: Session,
                                                                 make: Factory) -> None:
    ruta = make.ruta(catalog=make.catalog())
    rector = make.user(Role.RECTOR, school=ruta.school)
    with pytest.raises(InvalidInput) as refused:
        save_identity(db, ruta, IdentityData(mision="m", vision="v", principios="p",
                                             mision_vigencia="vigente"), actor=rector)
    assert refused.value.errors == SHORT_IDENTITY
    assert db.get(IdentityReview, ruta.id) is None
    # Twenty characters in two words are still not a sentence.
    with pytest.raises(InvalidInput) as refused:
        save_identity(db, ruta, IdentityData(mision="Formar estudiantesssss"), actor=rector)
    assert list(refused.value.errors) == ["mision"]
    # A draft may leave texts blank.
    saved = save_identity(db, ruta, IdentityData(mision="Formar ciudadanos críticos."),
                          actor=rector)
    assert (saved.mision, saved.vision) == ("Formar ciudadanos críticos.", "")


def test_short_identity_texts_stored_before_keep_the_autoevaluacion_from_being_sent(
        db: Session, make: Factory) -> None:
    ruta, rector = completed(make)
    stored = db.get(IdentityReview, ruta.id)
    stored.mision, stored.principios = "m", "p"  # written before the rule existed
    db.flush()
    with pytest.raises(GuardFailed) as refused:
        auto_actions.submit_self_assessment(db, ruta, actor=rector,
                                            expected_version=ruta.version)
    assert refused.value.reasons == [
        "Revisión de la identidad institucional: falta escribir completa la misión (al menos "
        "20 caracteres y 3 palabras) y escribir completos los principios (al menos 20 "
        "caracteres y 3 palabras)."]
    assert [item.kind for item in missing_items(db, ruta)] == ["identity"]


def test_identity_minimum_is_the_rule_set_of_the_ruta(db: Session, make: Factory) -> None:
    ruta, rector = completed(make, min_text_chars="5", min_text_words="1")
    saved = save_identity(db, ruta, IdentityData(
        mision="Educar", vision="Liderar", principios="Respeto", pei_reference="Acuerdo 1",
        mision_vigencia="vigente", vision_vigencia="vigente", principios_vigencia="vigente"),
        actor=rector)
    assert saved.mision == "Educar"
    assert missing_items(db, ruta) == []
    with pytest.raises(InvalidInput) as refused:
        save_identity(db, ruta, IdentityData(mision="Ser"), actor=rector)
    assert refused.value.errors == {"mision": [
        "La misión es muy corta: escríbala completa, con al menos 5 caracteres y 1 palabra."]}


# --- prioritisation serves the PMI ----------------------------------------------------------


def test_prioritisation_is_not_required_to_send_the_autoevaluacion(db: Session,
                                                                   make: Factory) -> None:
    ruta, rector = completed(make, level=2)
    assert len(classification_for(db, ruta).oportunidades) == 5
    assert priorities_of(db, ruta) == {}
    assert missing_items(db, ruta) == []
    auto_actions.submit_self_assessment(db, ruta, actor=rector, expected_version=ruta.version)
    assert ruta.state is State.AUTOEVALUACION_ENVIADA


def test_nothing_prioritised_means_no_top_oportunidades(db: Session, make: Factory) -> None:
    ruta, rector = completed(make, level=2)
    assert top_oportunidades(db, ruta, 3) == []
    componente = ruta.catalog.componentes[3]
    save_priorities(db, ruta, {componente.id: PriorityInput("2", "2", "2")}, actor=rector)
    assert [(item.item.code, item.score) for item in top_oportunidades(db, ruta, 3)] == [
        (componente.code, 6)]


def priority_of(db: Session, ruta: Ruta, code: str) -> tuple[int, int, int] | None:
    db.expire_all()
    ids = {c.code: c.id for c in ruta.catalog.componentes}
    row = priorities_of(db, ruta).get(ids[code])
    return None if row is None else (row.urgencia, row.tendencia, row.impacto)


def test_priorities_stay_editable_while_the_pmi_is_formulated(db: Session,
                                                              make: Factory) -> None:
    ruta, rector = completed(make, level=2)
    teacher = make.user(Role.EQUIPO, school=ruta.school, email="docente.aca@prueba.co")
    academica = next(area for area in ruta.catalog.areas if area.code == "ACA")
    add_member(db, ruta, MemberData(name="Docente de la académica", email=teacher.email,
                                    estamento="docente", area_ids=[str(academica.id)]),
               actor=rector, invite=False)
    auto_actions.submit_self_assessment(db, ruta, actor=rector, expected_version=ruta.version)
    ids = {c.code: c.id for c in ruta.catalog.componentes}
    assert save_priorities(db, ruta, {ids["DIR.1.1"]: PriorityInput("5", "5", "4")},
                           actor=rector) == 1
    assert save_priorities(db, ruta, {ids["ACA.1.1"]: PriorityInput("3", "2", "1")},
                           actor=teacher) == 1
    assert priority_of(db, ruta, "DIR.1.1") == (5, 5, 4)
    assert priority_of(db, ruta, "ACA.1.1") == (3, 2, 1)


@pytest.mark.parametrize("state", [State.PMI_FORMULADO, State.EN_REVISION, State.APROBADO,
                                   State.SEGUIMIENTO, State.CERRADO])
def test_priorities_are_fixed_once_the_pmi_is_sent(db: Session, make: Factory,
                                                   state: State) -> None:
    ruta, rector = completed(make, level=2)
    cid = ruta.catalog.componentes[0].id
    save_priorities(db, ruta, {cid: PriorityInput("1", "1", "1")}, actor=rector)
    ruta.state = state
    db.flush()
    with pytest.raises(NotEditable) as refused:
        save_priorities(db, ruta, {cid: PriorityInput("5", "5", "5")}, actor=rector)
    assert refused.value.message == LOCKED_MESSAGE == (
        "La priorización ya no se puede cambiar: el PMI fue enviado a la Secretaría con ella. "
        "Vuelve a abrirse solo si la Secretaría devuelve la Ruta.")
    assert priority_of(db, ruta, ruta.catalog.componentes[0].code) == (1, 1, 1)


def test_a_return_to_the_pmi_reopens_the_prioritisation(db: Session, make: Factory) -> None:
    ruta, rector = completed(make, level=2)
    ruta.state = State.EN_REVISION
    db.flush()
    reviewer = make.user(Role.REVISOR, secretaria=ruta.school.secretaria)
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="1",
                           text="Prioricen las oportunidades con el equipo.")
    pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                         expected_version=ruta.version, observations="",
                                         target=ReturnTarget.PMI, rubric={
                                             **PASSING_RUBRIC, 1: (
                                                 "cumple_parcialmente",
                                                 "La priorización no refleja al equipo.")})
    assert ruta.state is State.AUTOEVALUACION_ENVIADA
    cid = ruta.catalog.componentes[2].id
    assert save_priorities(db, ruta, {cid: PriorityInput("4", "4", "4")}, actor=rector) == 1


# --- through the web ------------------------------------------------------------------------


def test_missing_list_links_each_team_gap_to_the_team_page(db: Session, make: Factory,
                                                           web: WebClient) -> None:
    ruta, rector = completed(make)
    without_team(db, ruta)
    make.add_team(ruta, FOUR_DOCENTES)
    db.commit()
    web.login(rector.email)
    page = text_of(web.get(f"/rutas/{ruta.id}/autoevaluacion"))
    assert (f'<a href="/rutas/{ruta.id}/autoevaluacion/equipo">El equipo de gestión '
            "representa un solo estamento (docente)") in page
    team_page = text_of(web.get(f"/rutas/{ruta.id}/autoevaluacion/equipo"))
    assert ("el equipo de gestión necesita al menos 4 integrantes de al menos 2 estamentos "
            "distintos") in re.sub(r"</?strong>", "", team_page)
    assert "Hoy: 4 integrantes de 1 estamento." in team_page
    web.get(f"/rutas/{ruta.id}")
    refused = web.post(f"/rutas/{ruta.id}/acciones/enviar_autoevaluacion",
                       {"version": str(ruta.version)})
    assert refused.status_code == 422
    assert "representa un solo estamento (docente)" in text_of(refused)


def test_identity_form_refuses_m_and_keeps_what_was_typed(db: Session, make: Factory,
                                                          web: WebClient) -> None:
    ruta = make.ruta(catalog=make.catalog())
    rector = make.user(Role.RECTOR, school=ruta.school)
    db.commit()
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/autoevaluacion/identidad")
    refused = web.post(f"/rutas/{ruta.id}/autoevaluacion/identidad", {
        "mision": "m", "vision": "En 2030 seremos referentes del Tolima.", "principios": "p",
        "pei_reference": "Acuerdo 04 de 2021", "mision_vigencia": "vigente"})
    page = text_of(refused)
    assert refused.status_code == 422
    assert SHORT_IDENTITY["mision"][0] in page and SHORT_IDENTITY["principios"][0] in page
    assert SHORT_IDENTITY["vision"][0] not in page
    assert '<textarea id="mision" name="mision" rows="4" aria-describedby="textos-minimo ' \
           'mision-error" aria-invalid="true">m</textarea>' in page
    assert ">En 2030 seremos referentes del Tolima.</textarea>" in page
    assert 'value="Acuerdo 04 de 2021"' in page
    assert db.get(IdentityReview, ruta.id) is None


def fortalezas(web: WebClient, ruta: Ruta) -> str:
    return text_of(web.get(f"/rutas/{ruta.id}/autoevaluacion/fortalezas"))


def test_fortalezas_page_explains_the_sum_and_says_sin_priorizar(db: Session, make: Factory,
                                                                 web: WebClient) -> None:
    ruta, rector = completed(make, level=2)
    db.commit()
    web.login(rector.email)
    page = fortalezas(web, ruta)
    assert ("Puntaje de esta Ruta: <strong>suma (urgencia + tendencia + impacto)</strong>, "
            "de 3 a 15.") in page
    assert "las <strong>3 oportunidades de mayor puntaje</strong>" in page
    assert "<strong>0 de 5</strong> oportunidades priorizadas." in page
    assert "no hace falta para enviar la autoevaluación" in page
    # Nothing prioritised: no rank in the instrument's order, no fake top 3.
    assert page.count('<span class="meta">Sin priorizar</span>') == 5
    assert "(para el PMI)" not in page
    assert "×" not in page and "125" not in page


def test_fortalezas_page_follows_a_product_rule_set_and_its_count(db: Session, make: Factory,
                                                                  web: WebClient) -> None:
    ruta, rector = completed(make, level=2, priority_formula="producto", priority_count="2")
    ids = [c.id for c in ruta.catalog.componentes]
    save_priorities(db, ruta, {ids[0]: PriorityInput("2", "3", "4"),
                               ids[1]: PriorityInput("1", "1", "1"),
                               ids[2]: PriorityInput("5", "1", "1")}, actor=rector)
    db.commit()
    web.login(rector.email)
    page = fortalezas(web, ruta)
    assert ("<strong>producto (urgencia × tendencia × impacto)</strong>, de 1 a 125.") in page
    assert "las <strong>2 oportunidades de mayor puntaje</strong>" in page
    assert "<strong>3 de 5</strong> oportunidades priorizadas." in page
    rows = page.split("<tbody>")[1].split("</tbody>")[0].split("</tr>")
    assert [re.sub(r"<[^>]+>", "", row.split("</td>")[0]).strip() for row in rows[:5]] == [
        "1 (para el PMI)", "2 (para el PMI)", "3", "Sin priorizar", "Sin priorizar"]
    score = '<td data-label="Puntaje">'
    assert f"{score}24" in rows[0] and f"{score}5" in rows[1] and f"{score}1" in rows[2]


def test_prioritising_through_the_web_while_the_pmi_is_formulated(db: Session, make: Factory,
                                                                  web: WebClient) -> None:
    ruta, rector = completed(make, level=2)
    ruta.state = State.AUTOEVALUACION_ENVIADA
    db.commit()
    web.login(rector.email)
    page = fortalezas(web, ruta)
    assert "La priorización está abierta mientras se formula el PMI." in page
    assert f'action="/rutas/{ruta.id}/autoevaluacion/priorizacion"' in page
    detail = text_of(web.get(f"/rutas/{ruta.id}"))
    assert (f'<a href="/rutas/{ruta.id}/autoevaluacion/fortalezas#oportunidades-titulo">'
            "Priorizar las oportunidades</a>") in detail
    cid = ruta.catalog.componentes[1].id
    bad = web.post(f"/rutas/{ruta.id}/autoevaluacion/priorizacion", {
        "componente": [str(cid)], f"urgencia-{cid}": "9", f"tendencia-{cid}": "4",
        f"impacto-{cid}": "2"})
    assert bad.status_code == 422
    page = text_of(bad)
    assert "«DIR.1.2»: la urgencia debe ser un número de 1 a 5." in page
    assert f'name="urgencia-{cid}" value="9" aria-invalid="true"' in page
    assert f'name="tendencia-{cid}" value="4"' in page
    good = web.post(f"/rutas/{ruta.id}/autoevaluacion/priorizacion", {
        "componente": [str(cid)], f"urgencia-{cid}": "5", f"tendencia-{cid}": "4",
        f"impacto-{cid}": "2"}, follow_redirects=True)
    assert "Guardado: 1 priorización actualizada." in text_of(good)
    assert priority_of(db, ruta, "DIR.1.2") == (5, 4, 2)
    same = web.post(f"/rutas/{ruta.id}/autoevaluacion/priorizacion", {
        "componente": [str(cid)], f"urgencia-{cid}": "5", f"tendencia-{cid}": "4",
        f"impacto-{cid}": "2"}, follow_redirects=True)
    assert "No cambió ninguna priorización." in text_of(same)


def test_prioritising_after_the_pmi_is_sent_is_refused_with_a_message(
        db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector = completed(make, level=2)
    ruta.state = State.PMI_FORMULADO
    db.commit()
    web.login(rector.email)
    page = fortalezas(web, ruta)
    assert "La priorización quedó fija cuando el PMI se envió a la Secretaría" in page
    assert "/autoevaluacion/priorizacion" not in page
    cid = ruta.catalog.componentes[1].id
    refused = web.post(f"/rutas/{ruta.id}/autoevaluacion/priorizacion", {
        "componente": [str(cid)], f"urgencia-{cid}": "5", f"tendencia-{cid}": "4",
        f"impacto-{cid}": "2"})
    assert refused.status_code == 409
    assert LOCKED_MESSAGE in text_of(refused)
    assert priorities_of(db, ruta) == {}


def test_a_reviewer_reads_the_prioritisation_without_a_form(db: Session, make: Factory,
                                                             web: WebClient) -> None:
    ruta, _ = completed(make, level=2)
    ruta.state = State.AUTOEVALUACION_ENVIADA
    reviewer = make.user(Role.REVISOR, secretaria=ruta.school.secretaria)
    db.commit()
    web.login(reviewer.email)
    page = fortalezas(web, ruta)
    assert "Puntaje de esta Ruta" in page
    assert "/autoevaluacion/priorizacion" not in page
    refused = web.post(f"/rutas/{ruta.id}/autoevaluacion/priorizacion", {"componente": []})
    assert refused.status_code == 403



def test_printable_autoevaluacion_lists_priorities_only_when_there_are(
        db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector = completed(make, level=2)
    db.commit()
    web.login(rector.email)
    page = text_of(web.get(f"/rutas/{ruta.id}/autoevaluacion/imprimir"))
    assert "<p>Sin priorizar todavía.</p>" in page
    assert page.count("(nivel 2)</li>") == 5  # all of them under «sin priorizar»
    cid = ruta.catalog.componentes[4].id
    save_priorities(db, ruta, {cid: PriorityInput("1", "2", "3")}, actor=rector)
    db.commit()
    page = text_of(web.get(f"/rutas/{ruta.id}/autoevaluacion/imprimir"))
    assert ("<li>ACA.1.2 · Evaluación (nivel 2; urgencia 1, tendencia 2, impacto 3: puntaje "
            "6)</li>") in page
    assert "Puntaje: suma (urgencia + tendencia + impacto)." in page
    assert page.count("(nivel 2)</li>") == 4
