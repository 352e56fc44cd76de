"""The final evaluation is versioned: a form drawn from an older version answers 409 with the
person's values kept and the saved ones beside them; saving again with the new version works.
Its page puts the error summary first and ends a time with one period."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from tests.cierre.test_cierre import OPEN, complete_form, following
from tests.conftest import Factory, WebClient
from workflow.cierre import evaluacion_final as final
from workflow.errors import StaleEdit


def page(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def hidden_version(html: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found is not None
    return found.group(1)


def test_save_counts_versions_from_zero(db: Session, make: Factory) -> None:
    people = following(db, make)
    assert final.version_of(final.get_evaluation(db, people.ruta)) == 0
    final.save(db, people.ruta, complete_form(db, people), actor=people.rector,
               expected_version=0, now=OPEN)
    assert final.version_of(final.get_evaluation(db, people.ruta)) == 1
    final.register(db, people.ruta, actor=people.rector, now=OPEN)
    final.reopen(db, people.ruta, actor=people.rector, now=OPEN)
    assert final.version_of(final.get_evaluation(db, people.ruta)) == 3


@pytest.mark.parametrize("expected", [0, 2])
def test_save_from_another_version_is_a_stale_edit(db: Session, make: Factory,
                                                   expected: int) -> None:
    people = following(db, make)
    final.save(db, people.ruta, complete_form(db, people), actor=people.rector,
               expected_version=0, now=OPEN)
    db.commit()
    with pytest.raises(StaleEdit) as stale:
        final.save(db, people.ruta, complete_form(db, people, lecciones="Otra."),
                   actor=people.rector, expected_version=expected, now=OPEN)
    db.rollback()
    assert stale.value.status == 409 and "la evaluación final" in stale.value.message
    evaluation = final.get_evaluation(db, people.ruta)
    assert evaluation is not None and evaluation.version == 1
    assert evaluation.lecciones != "Otra."


def test_two_tabs_conflict_409_keeps_values_then_saving_again_works(
        db: Session, make: Factory, web_factory: Callable[[], WebClient]) -> None:
    people = following(db, make)
    db.commit()
    url = f"/rutas/{people.ruta.id}/cierre"
    first, second = web_factory(), web_factory()
    for tab in (first, second):
        tab.login(people.rector.email)
        assert hidden_version(page(tab.get(url))) == "0"
    saved = first.post(f"{url}/guardar", {**complete_form(db, people, lecciones="Primera."),
                                          "accion": "guardar", "version": "0"})
    assert saved.status_code == 302
    mine = {**complete_form(db, people, lecciones="Segunda, más completa."),
            "accion": "guardar", "version": "0"}
    stale = second.post(f"{url}/guardar", mine)
    assert stale.status_code == 409
    html = page(stale)
    assert "Otra persona guardó cambios mientras usted editaba" in html
    assert "Segunda, más completa." in html  # the person's own text, in the field
    assert ('<div class="saved-beside" id="lecciones-guardado"><strong>Quedó guardado:'
            '</strong> <span class="prewrap">Primera.</span>') in html
    assert hidden_version(html) == "1"
    assert final.get_evaluation(db, people.ruta).lecciones == "Primera."  # type: ignore[union-attr]

    again = second.post(f"{url}/guardar", {**mine, "version": hidden_version(html)})
    assert again.status_code == 302
    db.expire_all()
    evaluation = final.get_evaluation(db, people.ruta)
    assert evaluation is not None
    assert (evaluation.lecciones, evaluation.version) == ("Segunda, más completa.", 2)


def test_refused_save_puts_the_linked_summary_first(db: Session, make: Factory,
                                                    web: WebClient) -> None:
    people = following(db, make)
    db.commit()
    meta = people.metas(db)[0].meta
    web.login(people.rector.email)
    response = web.post(f"/rutas/{people.ruta.id}/cierre/guardar", {
        **complete_form(db, people, **{final.verdict_field(meta.id): "",
                                       final.value_field(meta.id): "mucho"}),
        "accion": "guardar", "version": "0"})
    assert response.status_code == 422
    html = page(response)
    assert html.index('id="resumen-errores"') < html.index('class="page-head"')
    for field in (final.verdict_field(meta.id), final.value_field(meta.id)):
        assert f'href="#{field}"' in html and f'id="{field}"' in html
    assert "¿Se alcanzó la meta?" in html and '<span class="required">(obligatorio)</span>' in html


def test_registered_time_ends_with_one_period(db: Session, make: Factory,
                                              web: WebClient) -> None:
    people = following(db, make)
    db.commit()
    web.login(people.rector.email)
    url = f"/rutas/{people.ruta.id}/cierre"
    assert web.post(f"{url}/guardar", {**complete_form(db, people), "accion": "registrar",
                                       "version": "0"}).status_code == 302
    html = page(web.get(url))
    assert re.search(r"<strong>Registrada</strong> el [^<]*m\.", html)
    assert "m.." not in html


def test_registering_too_early_links_each_missing_item_to_its_field(
        db: Session, make: Factory, web: WebClient) -> None:
    people = following(db, make)
    db.commit()
    meta = people.metas(db)[0].meta
    web.login(people.rector.email)
    response = web.post(f"/rutas/{people.ruta.id}/cierre/guardar", {
        **complete_form(db, people, lecciones="", **{final.verdict_field(meta.id): "",
                                                     final.value_field(meta.id): "",
                                                     final.comment_field(meta.id): ""}),
        "accion": "registrar", "version": "0"})
    assert response.status_code == 422
    html = page(response)
    assert "Todavía no se puede marcar la evaluación final como registrada." in html
    assert '<a href="#lecciones">Escriba las lecciones aprendidas.</a>' in html
    assert f'<a href="#{final.verdict_field(meta.id)}">Meta 1.1: diga si se alcanzó' in html
    assert final.get_evaluation(db, people.ruta) is None
