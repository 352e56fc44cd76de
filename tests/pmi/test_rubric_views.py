"""The rubric over HTTP: the decision form, refusals that keep what was typed, what the school
and the printed PMI show."""

from __future__ import annotations

import html as html_lib
import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSING_RUBRIC_FORM, Factory, WebClient
from tests.pmi import test_review as review_helpers
from workflow.models import OutboxMessage, Ruta, RutaTransition, User
from workflow.pmi import review
from workflow.pmi.models import Observation, RubricVerdict
from workflow.states import State

NOTE_3 = "La meta 1.1 no dice en qué unidad se mide."
NOTE_8 = "No nombra la oferta de educación para adultos (CLEI)."
OBSERVATION = "Indique la unidad de medida de la meta 1.1."


def in_review(db: Session, make: Factory) -> tuple[Ruta, User, User]:
    """A PMI in review (``test_review.in_review``), committed for the web client."""
    found = review_helpers.in_review(db, make)
    db.commit()
    return found


def text(response: object) -> str:
    return html_lib.unescape(response.get_data(as_text=True))  # type: ignore[attr-defined]


def form(**changes: str) -> dict[str, str]:
    return {**PASSING_RUBRIC_FORM, **changes}


def decide(web: WebClient, ruta: Ruta, decision: str, fields: dict[str, str]) -> object:
    return web.post(f"/rutas/{ruta.id}/pmi/decision",
                    {"version": str(ruta.version), "decision": decision, "destino": "pmi",
                     **fields})


def checked(page: str, criterion: int) -> list[str]:
    return re.findall(rf'name="rubrica-{criterion}-veredicto" value="([a-z_]+)" checked', page)


def test_review_page_offers_the_rubric_for_every_criterion(db: Session, make: Factory,
                                                           web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    web.login(reviewer.email)
    page = text(web.get(f"/rutas/{ruta.id}/pmi/revision"))
    assert re.findall(r'name="rubrica-(\d)-veredicto" value="cumple"', page) == [
        "1", "2", "3", "4", "5", "6", "7", "8", "0"]
    assert re.findall(r'name="rubrica-(\d)-nota"', page) == [
        "1", "2", "3", "4", "5", "6", "7", "8", "0"]
    assert "Todavía no hay rúbrica" in page


def test_return_with_a_missing_note_answers_422_and_keeps_everything_typed(
        db: Session, make: Factory, web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="3",
                           text=OBSERVATION)
    db.commit()
    web.login(reviewer.email)
    web.get(f"/rutas/{ruta.id}/pmi/revision")

    response = decide(web, ruta, "devolver", form(**{
        "rubrica-3-veredicto": "no_cumple", "rubrica-3-nota": NOTE_3,
        "rubrica-8-veredicto": "cumple_parcialmente", "rubrica-8-nota": "",
        "rubrica-5-veredicto": "", "observaciones": "Revisen las metas, por favor.",
        "destino": "autoevaluacion"}))

    assert response.status_code == 422  # type: ignore[attr-defined]
    page = text(response)
    assert ("Escriba la nota del criterio 8: qué le falta al plan para cumplir (la valoró "
            "«cumple parcialmente»).") in page
    assert "Valore el criterio 5: «cumple», «cumple parcialmente» o «no cumple»." in page
    assert checked(page, 3) == ["no_cumple"]
    assert checked(page, 8) == ["cumple_parcialmente"]
    assert checked(page, 5) == []
    assert checked(page, 1) == ["cumple"]
    assert f">{NOTE_3}</textarea>" in page
    assert ">Revisen las metas, por favor.</textarea>" in page
    assert re.search(r'value="autoevaluacion" checked', page)
    assert OBSERVATION in page  # the itemized observation stays, ready to send
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.EN_REVISION
    assert db.scalar(select(func.count()).select_from(RubricVerdict)) == 0
    assert db.scalar(select(func.count()).select_from(RutaTransition).where(
        RutaTransition.trigger == "devolver")) == 0


def test_return_with_the_rubric_shows_it_to_the_school(db: Session, make: Factory,
                                                       web_factory: object) -> None:
    ruta, rector, reviewer = in_review(db, make)
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="3",
                           text=OBSERVATION)
    db.commit()
    secretaria = web_factory()  # type: ignore[operator]
    secretaria.login(reviewer.email)
    secretaria.get(f"/rutas/{ruta.id}/pmi/revision")
    response = decide(secretaria, ruta, "devolver", form(**{
        "rubrica-3-veredicto": "no_cumple", "rubrica-3-nota": NOTE_3,
        "rubrica-8-veredicto": "cumple_parcialmente", "rubrica-8-nota": NOTE_8}))
    assert response.status_code == 302  # type: ignore[attr-defined]
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.AUTOEVALUACION_ENVIADA
    assert db.scalar(select(func.count()).select_from(RubricVerdict)) == 9
    [mail] = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ruta_devuelta"))
    assert "En esa misma página está la rúbrica de la Secretaría" in mail.text_body

    school = web_factory()  # type: ignore[operator]
    school.login(rector.email)
    page = text(school.get(f"/rutas/{ruta.id}/pmi/revision"))
    assert "Revisión 1 · Devuelto con observaciones" in page
    assert re.search(r"3\. Las metas contienen cantidad, unidad de medida y tiempo</th>\s*"
                     r'<td><strong class="verdict verdict-no_cumple">No cumple</strong></td>\s*'
                     rf'<td class="prewrap">{re.escape(NOTE_3)}</td>', page)
    assert NOTE_8 in page
    assert OBSERVATION in page  # beside the itemized observation
    assert 'name="rubrica-1-veredicto"' not in page  # the school reads, never judges
    history = text(school.get(f"/rutas/{ruta.id}"))
    assert "Ver la rúbrica de la Secretaría" in history
    versions = text(school.get(f"/rutas/{ruta.id}/pmi/versiones"))
    assert ("Rúbrica (devuelto con observaciones): criterio 3 «no cumple», criterio 8 «cumple "
            "parcialmente» · ") in versions
    assert f'href="/rutas/{ruta.id}/pmi/revision#rubrica-1"' in versions


def test_approval_refused_with_an_obligatory_no_cumple_keeps_the_form(
        db: Session, make: Factory, web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    web.login(reviewer.email)
    web.get(f"/rutas/{ruta.id}/pmi/revision")
    response = decide(web, ruta, "aprobar", form(**{
        "rubrica-3-veredicto": "no_cumple", "rubrica-3-nota": NOTE_3}))
    assert response.status_code == 422  # type: ignore[attr-defined]
    page = text(response)
    assert "Todavía no se puede «Aprobar el PMI»." in page
    assert "No se puede aprobar con «no cumple» en el criterio 3" in page
    assert checked(page, 3) == ["no_cumple"]
    assert f">{NOTE_3}</textarea>" in page
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.EN_REVISION
    assert db.scalar(select(func.count()).select_from(RubricVerdict)) == 0


def test_approval_with_cumple_and_parcial_is_printed(db: Session, make: Factory,
                                                     web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    web.login(reviewer.email)
    web.get(f"/rutas/{ruta.id}/pmi/revision")
    response = decide(web, ruta, "aprobar", form(**{
        "rubrica-3-veredicto": "cumple_parcialmente", "rubrica-3-nota": NOTE_3,
        "rubrica-8-veredicto": "no_cumple", "rubrica-8-nota": NOTE_8}))
    assert response.status_code == 302  # type: ignore[attr-defined]
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.APROBADO

    printed = text(web.get(f"/rutas/{ruta.id}/pmi/imprimir"))
    section = printed[printed.index('id="rubrica-impresa"'):]
    assert "Revisión 1 · Aprobado" in section
    assert NOTE_3 in section and NOTE_8 in section
    assert section.count("verdict-cumple_parcialmente") == 1
    assert section.count("verdict-no_cumple") == 1
    assert section.count('class="verdict verdict-cumple"') == 7


def test_unknown_decision_and_missing_version_are_refused_clearly(
        db: Session, make: Factory, web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    web.login(reviewer.email)
    web.get(f"/rutas/{ruta.id}/pmi/revision")
    response = decide(web, ruta, "archivar", form())
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "Elija si aprueba el PMI o lo devuelve con observaciones." in text(response)
    stale = web.post(f"/rutas/{ruta.id}/pmi/decision",
                     {"version": str(ruta.version - 1), "decision": "aprobar", **form()})
    assert stale.status_code == 409
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.EN_REVISION


def test_decision_without_csrf_token_is_refused(db: Session, make: Factory,
                                                web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    web.login(reviewer.email)
    response = web.post(f"/rutas/{ruta.id}/pmi/decision",
                        {"version": str(ruta.version), "decision": "aprobar", **form()},
                        csrf=False)
    assert response.status_code == 400
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.EN_REVISION


def test_only_revisores_decide(db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector, _ = in_review(db, make)
    web.login(rector.email)
    response = decide(web, ruta, "aprobar", form())
    assert response.status_code == 403  # type: ignore[attr-defined]
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.EN_REVISION


def test_an_observation_typed_in_the_return_form_is_kept_and_then_sent(
        db: Session, make: Factory, web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="3",
                           text=OBSERVATION)
    db.commit()
    web.login(reviewer.email)
    web.get(f"/rutas/{ruta.id}/pmi/revision")
    typed = {"nueva-elemento": "plan", "nueva-criterio": "8", "nueva-texto": NOTE_8}

    # A forgotten note: refused, and the observation being written is still in the form.
    refused = decide(web, ruta, "devolver", form(**{
        "rubrica-8-veredicto": "no_cumple", "rubrica-8-nota": "", **typed}))
    assert refused.status_code == 422  # type: ignore[attr-defined]
    page = text(refused)
    assert f'<textarea id="nueva-texto" name="nueva-texto" rows="3">{NOTE_8}</textarea>' in page
    assert '<option value="8" selected>' in page
    assert '<details class="new-observation" open>' in page
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Observation)) == 1

    # Without a criterion: its message and the rubric's, together.
    both = decide(web, ruta, "devolver", form(**{
        "rubrica-8-veredicto": "no_cumple", "rubrica-8-nota": "",
        **typed, "nueva-criterio": ""}))
    assert both.status_code == 422  # type: ignore[attr-defined]
    page = text(both)
    assert "Elija el criterio de la Circular 0488 al que se refiere." in page
    assert "Escriba la nota del criterio 8" in page

    sent = decide(web, ruta, "devolver", form(**{
        "rubrica-8-veredicto": "no_cumple", "rubrica-8-nota": NOTE_8, **typed}))
    assert sent.status_code == 302  # type: ignore[attr-defined]
    db.expire_all()
    rows = review.observations(db, db.get(Ruta, ruta.id))
    assert [(row.criterion, row.text, row.status.value) for row in rows] == [
        (3, OBSERVATION, "enviada"), (8, NOTE_8, "enviada")]


def test_the_ruta_pages_action_endpoint_requires_the_rubric_too(db: Session, make: Factory,
                                                                 web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    web.login(reviewer.email)
    web.get(f"/rutas/{ruta.id}")
    response = web.post(f"/rutas/{ruta.id}/acciones/aprobar", {"version": str(ruta.version)})
    assert response.status_code == 422  # type: ignore[attr-defined]
    page = text(response)
    assert "Registre la rúbrica en la revisión del PMI antes de decidir." in page
    assert "Valore el criterio 1: «cumple», «cumple parcialmente» o «no cumple»." in page
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.EN_REVISION
    assert db.scalar(select(func.count()).select_from(RubricVerdict)) == 0
