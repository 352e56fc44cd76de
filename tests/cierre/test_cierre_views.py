"""The end of a Ruta over HTTP: recording the final evaluation, closing, the printable
results, the next cycle and who sees what.

The pages read the clock: a Ruta 2024–2026 may record its final evaluation from
1 November 2026, a date already past for every run of these tests.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.cierre.test_cierre import LESSONS, NOT_RECORDED, Following, complete_form, following
from tests.conftest import Factory, WebClient
from workflow.cierre import evaluacion_final as final
from workflow.cierre.models import FinalEvaluation, MetaResult
from workflow.models import Ruta
from workflow.roles import Role
from workflow.states import State


def page(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def text(response: object) -> str:
    """The page's visible words, tags and extra spaces removed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page(response)).split())


def ready(db: Session, make: Factory) -> Following:
    people = following(db, make)
    db.commit()
    return people


def record_over_the_web(db: Session, web: WebClient, people: Following,
                        action: str = "registrar", **changes: str) -> object:
    web.login(people.rector.email)
    web.get(f"/rutas/{people.ruta.id}/cierre")
    return web.post(f"/rutas/{people.ruta.id}/cierre/guardar",
                    {**complete_form(db, people, **changes), "accion": action})


def close_over_the_web(web: WebClient, db: Session, people: Following) -> object:
    web.login(people.reviewer.email)
    web.get(f"/rutas/{people.ruta.id}")
    db.refresh(people.ruta)
    return web.post(f"/rutas/{people.ruta.id}/acciones/cerrar",
                    {"version": str(people.ruta.version)})


def test_rector_records_and_registers_then_the_reviewer_closes(
        db: Session, make: Factory, web_factory: object) -> None:
    people = ready(db, make)
    rector, reviewer = web_factory(), web_factory()  # type: ignore[operator]

    refused = close_over_the_web(reviewer, db, people)
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert NOT_RECORDED in text(refused)

    rector.login(people.rector.email)
    form_page = rector.get(f"/rutas/{people.ruta.id}/cierre")
    assert "Guardar y marcar como registrada" in page(form_page)
    assert "desde el 1 de noviembre de 2026" in text(form_page)
    saved = record_over_the_web(db, rector, people)
    assert saved.status_code == 302  # type: ignore[attr-defined]
    db.expire_all()
    evaluation = final.get_evaluation(db, people.ruta)
    assert evaluation is not None and evaluation.registered
    assert evaluation.lecciones == LESSONS

    closed = close_over_the_web(reviewer, db, people)
    assert closed.status_code == 302  # type: ignore[attr-defined]
    db.expire_all()
    assert people.ruta.state is State.CERRADO
    detail = text(reviewer.get(f"/rutas/{people.ruta.id}"))
    assert "Cerró la Ruta" in detail
    assert "Resumen de resultados (para imprimir)" in detail


def test_a_draft_is_saved_without_registering(db: Session, make: Factory,
                                              web: WebClient) -> None:
    people = ready(db, make)
    response = record_over_the_web(db, web, people, action="guardar")
    assert response.status_code == 302  # type: ignore[attr-defined]
    assert "la evaluación final sigue en borrador" in page(web.get(
        f"/rutas/{people.ruta.id}/cierre"))
    db.expire_all()
    assert final.get_evaluation(db, people.ruta).registered is False  # type: ignore[union-attr]


def test_bad_input_answers_422_with_the_message_and_saves_nothing(
        db: Session, make: Factory, web: WebClient) -> None:
    people = ready(db, make)
    meta = people.metas(db)[0].meta
    not_a_number = record_over_the_web(db, web, people, **{final.value_field(meta.id): "mucho"})
    assert not_a_number.status_code == 422  # type: ignore[attr-defined]
    assert ("Meta 1.1 (valor alcanzado): el valor debe ser un número (por ejemplo, 42 o 12,5); "
            "llegó «mucho».") in text(not_a_number)
    assert 'value="mucho"' in page(not_a_number)  # what the person typed stays

    no_lessons = record_over_the_web(db, web, people, lecciones="")
    assert no_lessons.status_code == 422  # type: ignore[attr-defined]
    assert "Escriba las lecciones aprendidas." in text(no_lessons)
    # Registering failed, so the save that came with it did not land either.
    assert db.scalar(select(func.count()).select_from(FinalEvaluation)) == 0
    assert db.scalar(select(func.count()).select_from(MetaResult)) == 0


def test_editing_after_closing_answers_409(db: Session, make: Factory,
                                           web_factory: object) -> None:
    people = ready(db, make)
    rector, reviewer = web_factory(), web_factory()  # type: ignore[operator]
    record_over_the_web(db, rector, people)
    close_over_the_web(reviewer, db, people)
    response = rector.post(f"/rutas/{people.ruta.id}/cierre/guardar",
                           {**complete_form(db, people, lecciones="Otra cosa."),
                            "accion": "guardar"})
    assert response.status_code == 409
    assert "La Ruta está cerrada: su evaluación final ya no se modifica." in text(response)
    reopened = rector.post(f"/rutas/{people.ruta.id}/cierre/reabrir")
    assert reopened.status_code == 409
    db.expire_all()
    assert final.get_evaluation(db, people.ruta).lecciones == LESSONS  # type: ignore[union-attr]
    assert "Guardar borrador" not in page(rector.get(f"/rutas/{people.ruta.id}/cierre"))


def test_results_summary_prints_what_the_school_recorded(db: Session, make: Factory,
                                                         web_factory: object) -> None:
    people = ready(db, make)
    rector, consulta_web = web_factory(), web_factory()  # type: ignore[operator]
    record_over_the_web(db, rector, people)
    consulta = make.user(Role.CONSULTA, secretaria=people.ruta.school.secretaria)
    db.commit()
    consulta_web.login(consulta.email)
    for browser in (rector, consulta_web):
        response = browser.get(f"/rutas/{people.ruta.id}/resultados")
        assert response.status_code == 200
        words = text(response)
        assert f"Resultados del Plan de Mejoramiento 2024–2026: {people.ruta.school.name}" in words
        assert ("De 2 metas del plan: 1 alcanzada, 1 parcialmente alcanzada y 0 no alcanzadas."
                in words)
        # Meta 1.1: línea base 32 % → meta 45 % → 41,5 % reached, partially.
        assert re.search(r"Meta 1\.1: .*? 32 % 45 % a 30 de noviembre de 2026 41,5 % "
                         r"Parcialmente alcanzada", words)
        assert "Meta 2.1" in words and "7 % Alcanzada" in words
        assert LESSONS in words
        assert "Asamblea de padres y madres." in words and "6 de noviembre de 2026" in words


def test_scope_and_read_only_roles(db: Session, make: Factory, web_factory: object) -> None:
    people = ready(db, make)
    stranger = make.user(Role.RECTOR)  # another school's rector
    consulta = make.user(Role.CONSULTA, secretaria=people.ruta.school.secretaria)
    db.commit()
    outsider, reader = web_factory(), web_factory()  # type: ignore[operator]
    outsider.login(stranger.email)
    for url in ("/cierre", "/resultados"):
        assert outsider.get(f"/rutas/{people.ruta.id}{url}").status_code == 404
    assert outsider.post(f"/rutas/{people.ruta.id}/cierre/guardar",
                         complete_form(db, people)).status_code == 404

    reader.login(consulta.email)
    view = reader.get(f"/rutas/{people.ruta.id}/cierre")
    assert view.status_code == 200
    assert "<form" not in page(view).split("</header>", 1)[-1]  # read only: no form on the page
    assert reader.post(f"/rutas/{people.ruta.id}/cierre/guardar",
                       complete_form(db, people)).status_code == 403
    assert reader.post(f"/rutas/{people.ruta.id}/siguiente-ciclo").status_code == 403
    assert db.scalar(select(func.count()).select_from(FinalEvaluation)) == 0


def test_administration_opens_the_next_cycle_once_and_its_perfil_compares(
        db: Session, make: Factory, web_factory: object) -> None:
    people = ready(db, make)
    rector, reviewer, admin = web_factory(), web_factory(), web_factory()  # type: ignore[operator]
    record_over_the_web(db, rector, people)
    close_over_the_web(reviewer, db, people)
    admin.login(people.admin.email)
    detail = page(admin.get(f"/rutas/{people.ruta.id}"))
    assert "Abrir la Ruta 2027–2029" in detail

    opened = admin.post(f"/rutas/{people.ruta.id}/siguiente-ciclo")
    assert opened.status_code == 302
    next_ruta = db.scalar(select(Ruta).where(Ruta.previous_ruta_id == people.ruta.id))
    assert next_ruta is not None and next_ruta.horizon_label == "2027–2029"
    assert opened.headers["Location"].endswith(f"/rutas/{next_ruta.id}")
    again = admin.post(f"/rutas/{people.ruta.id}/siguiente-ciclo")
    assert again.status_code == 409
    assert "La Ruta 2027–2029 de esta institución ya fue abierta." in text(again)

    perfil = text(rector.get(f"/rutas/{next_ruta.id}/autoevaluacion/perfil"))
    assert "Cambio por componente frente a la Ruta 2024–2026" in perfil
    # Nothing rated yet in the new Ruta: every componente shows its previous level only.
    assert "DIR.1.1 · Misión, visión y principios 2 Pertinencia Sin valorar —" in perfil
    assert "Esta Ruta continúa la Ruta 2024–2026" in text(rector.get(f"/rutas/{next_ruta.id}"))
