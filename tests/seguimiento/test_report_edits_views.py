"""The seguimiento report over HTTP never loses what the person typed: values and files go in
one submit, a refusal re-draws everything, a stale save answers 409 with both versions, an
observation is added once per form and deleted only after a confirmation (with «Deshacer»)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from tests.seguimiento.test_seguimiento import Plan, build_plan, form_for
from tests.seguimiento.test_seguimiento_views import PDF, open_june, signed_in
from workflow.evidencias.models import EvidenceFile
from workflow.seguimiento.models import FollowUpLine, FollowUpObservation, FollowUpReport

TOKEN = "t" * 32


@pytest.fixture
def plan(db: Session, make: Factory, app: Flask, tmp_path: Path) -> Plan:
    app.config["EVIDENCE_FOLDER"] = str(tmp_path / "evidencias")
    return build_plan(make)


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def save(client: WebClient, url: str, form: dict[str, str], *files: tuple[bytes, str]) -> object:
    data: dict[str, object] = dict(form)
    if files:
        data["archivo"] = [(io.BytesIO(content), name) for content, name in files]
    return client.post(f"{url}/guardar", data, content_type="multipart/form-data")


def page(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def hidden_version(html: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found is not None
    return found.group(1)


def test_report_form_is_one_multipart_form_with_required_marks(plan: Plan,
                                                                web: WebClient) -> None:
    web.login(plan.rector.email)
    html = page(web.get(open_june(web, plan)))
    form = html[html.index('id="formulario-informe"') - 200:html.index("Guardar el informe")]
    assert 'enctype="multipart/form-data"' in form
    assert 'type="file" id="archivo" name="archivo" multiple' in form
    assert 'name="form_token"' in form
    assert form.count('<span class="required">(obligatorio)</span>') == 4  # 2 lines × 2
    assert "/evidencias\"" not in html  # no second form that would drop the typed values


def test_save_bad_value_with_a_file_keeps_every_value_and_names_the_file(
        plan: Plan, db: Session, web: WebClient) -> None:
    web.login(plan.rector.email)
    url = open_june(web, plan)
    form = {**form_for(plan, **{f"avance-{plan.first.id}": "150",
                                f"razones-{plan.first.id}": "Lluvias de abril."}),
            "version": "1", "form_token": TOKEN}
    response = save(web, url, form, (PDF, "actas.pdf"))
    assert response.status_code == 422  # type: ignore[attr-defined]
    html = page(response)
    for name, value in form.items():
        if name.startswith(("avance-", "costo-", "valor-")):
            assert f'name="{name}" inputmode' in html and f'value="{value}"' in html, name
    assert "Lluvias de abril." in html and "Paro de dos semanas." in html
    assert "Pocos textos." in html and "Biblioteca" in html
    assert 'value="en_curso" selected' in html
    assert "No se adjuntó el archivo «actas.pdf» porque el informe no se guardó" in html
    # The summary comes first in the content and links to each field.
    assert html.index('id="resumen-errores"') < html.index('class="page-head"')
    assert f'href="#avance-{plan.first.id}"' in html and 'href="#archivo"' in html
    assert f'value="{TOKEN}"' in html  # the same token: posting again is the same form
    assert (count(db, FollowUpLine), count(db, EvidenceFile)) == (0, 0)


@pytest.mark.parametrize(("content", "name", "message"), [
    (b"MZ\x90\x00", "informe.pdf", "no es de un tipo permitido"),
    (PDF + b"0" * 5000, "grande.pdf", "supera el límite"),
])
def test_save_refused_file_keeps_the_values_and_asks_to_choose_it_again(
        plan: Plan, app: Flask, db: Session, web: WebClient, content: bytes, name: str,
        message: str) -> None:
    app.config["EVIDENCE_MAX_BYTES"] = 2000
    web.login(plan.rector.email)
    url = open_june(web, plan)
    response = save(web, url, {**form_for(plan), "version": "1"}, (content, name))
    assert response.status_code == 422  # type: ignore[attr-defined]
    html = page(response)
    assert f"No se adjuntó «{name}»" in html and message in html
    assert "Vuelva a elegir el archivo" in html
    assert 'value="41,5"' in html and "Paro de dos semanas." in html
    assert (count(db, FollowUpLine), count(db, EvidenceFile)) == (0, 0)


def test_save_values_and_file_in_one_submit_then_a_repost_attaches_nothing_more(
        plan: Plan, db: Session, web: WebClient) -> None:
    web.login(plan.rector.email)
    url = open_june(web, plan)
    form = {**form_for(plan), "version": "1", "form_token": TOKEN}
    first = save(web, url, form, (PDF, "actas.pdf"))
    assert first.status_code == 302  # type: ignore[attr-defined]
    again = save(web, url, form, (PDF, "actas.pdf"))  # a double tap: the same form
    assert again.status_code == 302  # type: ignore[attr-defined]
    assert count(db, EvidenceFile) == 1
    assert count(db, FollowUpLine) == 2
    shown = page(web.get(url))
    assert "Se adjuntó «actas.pdf»" in shown and ">actas.pdf</a>" in shown


def test_stale_save_answers_409_with_both_versions_and_saving_again_works(
        plan: Plan, db: Session, web_factory: Callable[[], WebClient]) -> None:
    rector = signed_in(web_factory, plan.rector.email)
    equipo = signed_in(web_factory, plan.equipo.email)
    url = open_june(rector, plan)
    equipo.get(url)
    assert save(equipo, url, {**form_for(plan, **{f"avance-{plan.first.id}": "50"}),
                              "version": "1"}).status_code == 302  # type: ignore[attr-defined]
    mine = {**form_for(plan, **{f"avance-{plan.first.id}": "60",
                                f"razones-{plan.first.id}": "Mis razones."}), "version": "1"}
    stale = save(rector, url, mine, (PDF, "actas.pdf"))
    assert stale.status_code == 409  # type: ignore[attr-defined]
    html = page(stale)
    assert "Otra persona guardó cambios mientras usted editaba" in html
    assert 'value="60"' in html and "Mis razones." in html  # the person's own values
    assert f'id="avance-{plan.first.id}-guardado"' in html  # the saved one beside it
    assert "<strong>Quedó guardado:</strong> <span class=\"prewrap\">50</span>" in html
    assert f'id="avance-{plan.second.id}-guardado"' not in html  # unchanged: nothing beside
    assert "vuelva a elegir el archivo" in html
    assert hidden_version(html) == "2"
    assert count(db, EvidenceFile) == 0

    merged = save(rector, url, {**mine, "version": hidden_version(html)}, (PDF, "actas.pdf"))
    assert merged.status_code == 302  # type: ignore[attr-defined]
    db.expire_all()
    line = db.scalars(select(FollowUpLine).where(
        FollowUpLine.actividad_id == plan.first.id)).one()
    assert (line.avance, line.razones, count(db, EvidenceFile)) == (60, "Mis razones.", 1)


def test_refused_save_keeps_the_version_the_form_was_drawn_from(
        plan: Plan, web_factory: Callable[[], WebClient]) -> None:
    rector = signed_in(web_factory, plan.rector.email)
    equipo = signed_in(web_factory, plan.equipo.email)
    url = open_june(rector, plan)
    save(rector, url, {**form_for(plan), "version": "1"})  # version 2
    refused = save(rector, url, {**form_for(plan, **{f"avance-{plan.first.id}": "x"}),
                                 "version": "2"})
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert save(equipo, url, {**form_for(plan), "version": "2"}).status_code == 302  # type: ignore[attr-defined]
    # The refused form still says 2: saving it now notices the other save, never overwrites.
    version = hidden_version(page(refused))
    assert version == "2"
    again = save(rector, url, {**form_for(plan), "version": version})
    assert again.status_code == 409  # type: ignore[attr-defined]


def sent_report(plan: Plan, db: Session,
                web_factory: Callable[[], WebClient]) -> tuple[str, WebClient]:
    rector = signed_in(web_factory, plan.rector.email)
    url = open_june(rector, plan)
    save(rector, url, {**form_for(plan), "version": "1"})
    assert rector.post(f"{url}/enviar", {"version": "2"}).status_code == 302
    return url, signed_in(web_factory, plan.revisor.email)


def test_adding_an_observation_twice_with_one_form_adds_it_once(
        plan: Plan, db: Session, web_factory: Callable[[], WebClient]) -> None:
    url, reviewer = sent_report(plan, db, web_factory)
    assert 'name="form_token"' in page(reviewer.get(url))
    form = {"elemento": "informe", "texto": "Falta el acta.", "form_token": TOKEN}
    assert reviewer.post(f"{url}/observaciones", form).status_code == 302
    again = reviewer.post(f"{url}/observaciones", form)
    assert again.status_code == 302
    assert count(db, FollowUpObservation) == 1
    assert "ya estaba agregada" in page(reviewer.get(url))


def test_deleting_an_observation_asks_first_and_can_be_undone(
        plan: Plan, db: Session, web_factory: Callable[[], WebClient]) -> None:
    url, reviewer = sent_report(plan, db, web_factory)
    reviewer.post(f"{url}/observaciones", {"elemento": "informe", "texto": "Falta el acta."})
    row_id = db.scalar(select(FollowUpObservation.id))
    asked = reviewer.post(f"{url}/observaciones/eliminar", {"observacion": str(row_id)})
    assert asked.status_code == 200
    assert "¿Eliminar esta observación?" in page(asked) and "Falta el acta." in page(asked)
    assert count(db, FollowUpObservation) == 1  # nothing deleted yet

    done = reviewer.post(f"{url}/observaciones/eliminar",
                         {"observacion": str(row_id), "confirmado": "si"})
    assert done.status_code == 302
    assert count(db, FollowUpObservation) == 0
    shown = page(reviewer.get(url))
    assert "Deshacer" in shown and 'name="texto" value="Falta el acta."' in shown
    assert "Deshacer" not in page(reviewer.get(url))  # offered once

    undone = reviewer.post(f"{url}/observaciones",
                           {"elemento": "informe", "texto": "Falta el acta."})
    assert undone.status_code == 302
    assert db.scalars(select(FollowUpObservation.text)).all() == ["Falta el acta."]


def test_sent_report_times_end_with_a_single_period(plan: Plan, db: Session,
                                                     web_factory: Callable[[], WebClient]
                                                     ) -> None:
    url, reviewer = sent_report(plan, db, web_factory)
    html = page(reviewer.get(url))
    assert "Enviado por primera vez el" in html
    assert "m.." not in html
    assert re.search(r"Enviado por primera vez el [^<]*m\.", html)
    assert db.scalar(select(FollowUpReport.submitted_by_id)) == plan.rector.id


def test_stale_acknowledgement_keeps_the_comment(plan: Plan, db: Session,
                                                  web_factory: Callable[[], WebClient]) -> None:
    url, reviewer = sent_report(plan, db, web_factory)
    stale = reviewer.post(f"{url}/reconocer", {"version": "2", "comentario": "Bien hecho."})
    assert stale.status_code == 409
    html = page(stale)
    assert "cambió mientras usted lo tenía abierto" in html
    assert '<textarea id="comentario" name="comentario" rows="2">Bien hecho.</textarea>' in html
    assert hidden_version(html) == "3"


def test_refused_submission_links_each_missing_line_to_its_field(
        plan: Plan, db: Session, web: WebClient) -> None:
    web.login(plan.rector.email)
    url = open_june(web, plan)
    refused = web.post(f"{url}/enviar", {"version": "1"})
    assert refused.status_code == 422
    html = page(refused)
    assert "Todavía no se puede enviar el informe de seguimiento." in html
    for actividad in (plan.first, plan.second):
        assert f'<a href="#avance-{actividad.id}">Falta informar la actividad' in html
        assert f'id="avance-{actividad.id}"' in html
    assert db.scalar(select(FollowUpReport.status)).value == "borrador"


def test_what_is_missing_before_sending_links_to_each_field(plan: Plan,
                                                            web: WebClient) -> None:
    web.login(plan.rector.email)
    html = page(web.get(open_june(web, plan)))
    section = html[html.index('id="enviar-titulo"'):]
    assert f'<li><a href="#avance-{plan.first.id}">Falta informar la actividad' in section
    assert f'<li><a href="#avance-{plan.second.id}">Falta informar la actividad' in section
