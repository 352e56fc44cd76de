"""The outbox: queueing is idempotent and transactional, templates render safely, and the
administrators' "Correo saliente" page lists, filters and retries, within their Secretaría."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ruta import create_app
from tests.conftest import Factory, WebClient, app_config
from workflow import outbox
from workflow.correo import delivery
from workflow.errors import Forbidden
from workflow.models import OutboxMessage, OutboxStatus, Secretaria, User
from workflow.roles import Role

BASE_URL = "https://ruta.ibague.gov.co"
NOW = datetime(2025, 3, 4, 13, 0, tzinfo=UTC)
CONTEXT: dict[str, Any] = {
    "school_name": "Institución Educativa San Simón",
    "dane_code": "173001000001",
    "secretaria_name": "Secretaría de Educación de Ibagué",
    "horizon": "2024–2026",
    "ruta_url": f"{BASE_URL}/rutas/1",
    "actor_name": "Ana Revisora",
    "reviewer_name": "Ana Revisora",
    "at": datetime(2025, 3, 4, 15, 30, tzinfo=UTC),
    "state_label": "En revisión",
    "observations": "Meta 2: <sin unidad> & sin línea base.",
    "return_target": "a la formulación del PMI (la autoevaluación queda como está)",
}


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """conftest's app, with a public address for links."""
    application = create_app(app_config(database_url, RUTA_BASE_URL=BASE_URL))
    yield application
    application.extensions["ruta_db"].dispose()


def count_rows(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def queue(db: Session, secretaria: Secretaria, key: str, *,
          to: tuple[str, ...] = ("rectora@sansimon.edu.co",), kind: str = "ruta_devuelta",
          status: OutboxStatus = OutboxStatus.PENDING, **values: Any) -> OutboxMessage:
    assert outbox.enqueue(db, kind=kind, to=list(to), context=CONTEXT, dedupe_key=key,
                          secretaria_id=secretaria.id, now=NOW)
    message = db.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).one()
    if status is not OutboxStatus.PENDING or values:
        if status is OutboxStatus.SENT:
            values.setdefault("sent_at", NOW)
        db.execute(update(OutboxMessage).where(OutboxMessage.id == message.id)
                   .values(status=status, **values))
    db.commit()
    db.refresh(message)
    return message


# --- queueing -----------------------------------------------------------------------------


def test_enqueue_renders_subject_text_and_html(db: Session, make: Factory) -> None:
    secretaria = make.secretaria()

    created = outbox.enqueue(db, kind="ruta_devuelta", to=["Rectora@SanSimon.edu.co"],
                             cc=["equipo@sansimon.edu.co", "rectora@sansimon.edu.co"],
                             context=CONTEXT, dedupe_key="prueba:1",
                             secretaria_id=secretaria.id, now=NOW)
    db.commit()

    message = db.scalars(select(OutboxMessage)).one()
    assert created is True
    assert (message.kind, message.recipients, message.cc, message.subject, message.status,
            message.attempts, message.next_attempt_at, message.created_at) == (
        "ruta_devuelta", ["rectora@sansimon.edu.co"], ["equipo@sansimon.edu.co"],
        "Ruta devuelta con observaciones: Institución Educativa San Simón",
        OutboxStatus.PENDING, 0, NOW, NOW)
    assert "Observaciones de la Secretaría:\n\nMeta 2: <sin unidad> & sin línea base.\n" in (
        message.text_body)
    assert "<blockquote>Meta 2: &lt;sin unidad&gt; &amp; sin línea base.</blockquote>" in (
        message.html_body)
    assert f'<a href="{BASE_URL}/rutas/1">' in message.html_body
    assert message.html_body.startswith("<!doctype html>")


def test_enqueue_twice_with_one_key_keeps_one_message(db: Session, make: Factory) -> None:
    secretaria = make.secretaria()
    arguments: dict[str, Any] = {"kind": "pmi_aprobado", "to": ["rectora@sansimon.edu.co"],
                                 "context": CONTEXT, "dedupe_key": "transition:7:rector",
                                 "secretaria_id": secretaria.id}

    first = outbox.enqueue(db, **arguments)
    second = outbox.enqueue(db, **{**arguments, "to": ["otra@sansimon.edu.co"]})
    db.commit()

    assert (first, second, count_rows(db)) == (True, False, 1)
    assert db.scalars(select(OutboxMessage.recipients)).one() == ["rectora@sansimon.edu.co"]


def test_enqueue_many_queues_only_the_keys_not_queued_before(db: Session,
                                                              make: Factory) -> None:
    secretaria = make.secretaria()
    assert outbox.enqueue(db, kind="pmi_aprobado", to=["primera@sansimon.edu.co"],
                          context=CONTEXT, dedupe_key="lote:1", secretaria_id=secretaria.id,
                          now=NOW)
    emails = [outbox.Email(kind="pmi_aprobado", to=f"rector{number}@sansimon.edu.co",
                           context=CONTEXT, dedupe_key=f"lote:{number}",
                           secretaria_id=secretaria.id) for number in (1, 2, 3, 3)]

    queued = outbox.enqueue_many(db, emails, now=NOW)
    again = outbox.enqueue_many(db, emails, now=NOW)
    db.commit()

    # One INSERT decides: the key queued before and the repeated one queue nothing more.
    assert (queued, again) == ({"lote:2", "lote:3"}, set())
    assert {message.dedupe_key: (message.recipients, message.next_attempt_at, message.status)
            for message in db.scalars(select(OutboxMessage))} == {
        "lote:1": (["primera@sansimon.edu.co"], NOW, OutboxStatus.PENDING),
        "lote:2": (["rector2@sansimon.edu.co"], NOW, OutboxStatus.PENDING),
        "lote:3": (["rector3@sansimon.edu.co"], NOW, OutboxStatus.PENDING)}


def test_enqueue_many_in_chunks_inserts_each_chunk_while_rendering_the_next(
        db: Session, make: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "ENQUEUE_CHUNK", 2)  # 7 messages: four chunks
    secretaria = make.secretaria()
    assert outbox.enqueue(db, kind="pmi_aprobado", to=["antes@sansimon.edu.co"],
                          context=CONTEXT, dedupe_key="trozo:4", secretaria_id=secretaria.id)
    emails = [outbox.Email(kind="pmi_aprobado", to=f"rector{number}@sansimon.edu.co",
                           context=CONTEXT, dedupe_key=f"trozo:{number}",
                           secretaria_id=secretaria.id) for number in range(7)]

    queued = outbox.enqueue_many(db, emails, now=NOW)
    db.rollback()  # the helper thread wrote in the caller's transaction: all of it goes

    assert queued == {f"trozo:{number}" for number in range(7) if number != 4}
    assert count_rows(db) == 0


def test_enqueue_rolled_back_with_its_transaction_leaves_nothing(db: Session,
                                                                 make: Factory) -> None:
    secretaria = make.secretaria()
    db.commit()
    outbox.enqueue(db, kind="pmi_aprobado", to=["rectora@sansimon.edu.co"], context=CONTEXT,
                   dedupe_key="prueba:1", secretaria_id=secretaria.id)

    db.rollback()

    assert count_rows(db) == 0


@pytest.mark.parametrize(("to", "message"), [
    ([], "an e-mail needs at least one recipient"),
    (["sin-arroba"], "not an e-mail address: 'sin-arroba'"),
    (["a@b.co\nBcc: x@y.co"], "not an e-mail address: 'a@b.co\\nbcc: x@y.co'"),
])
def test_enqueue_refuses_bad_recipients(db: Session, make: Factory, to: list[str],
                                        message: str) -> None:
    secretaria = make.secretaria()
    with pytest.raises(ValueError) as refused:
        outbox.enqueue(db, kind="pmi_aprobado", to=to, context=CONTEXT,
                       dedupe_key="prueba:1", secretaria_id=secretaria.id)
    assert str(refused.value) == message


def test_subject_is_one_line_whatever_the_names_hold() -> None:
    rendered = outbox.render("pmi_aprobado", {**CONTEXT, "school_name": "I. E.\n  San Simón"})
    assert rendered.subject == "PMI aprobado: I. E. San Simón"


def test_missing_context_value_is_an_error_not_a_hole() -> None:
    context = {key: value for key, value in CONTEXT.items() if key != "ruta_url"}
    with pytest.raises(Exception, match="ruta_url"):
        outbox.render("pmi_aprobado", context)


TRANSITION_KINDS = ("autoevaluacion_enviada", "pmi_enviado", "pmi_en_revision",
                    "ruta_devuelta", "pmi_aprobado", "seguimiento_iniciado", "ruta_cerrada")


def test_every_email_kind_has_its_three_templates() -> None:
    names = {path.name for path in outbox.TEMPLATE_DIR.iterdir()}
    kinds = {name.removesuffix(".subject.txt") for name in names
             if name.endswith(".subject.txt")}
    assert set(TRANSITION_KINDS) <= kinds
    assert [kind for kind in sorted(kinds)
            if not {f"{kind}.txt", f"{kind}.html"} <= names] == []


@pytest.mark.parametrize("kind", TRANSITION_KINDS)
def test_transition_messages_link_to_the_ruta_in_both_parts(kind: str) -> None:
    rendered = outbox.render(kind, CONTEXT)
    assert "\n" not in rendered.subject
    assert f"\n{BASE_URL}/rutas/1\n" in rendered.text
    assert f'<a href="{BASE_URL}/rutas/1">' in rendered.html


def test_absolute_url_uses_the_configured_base(db: Session) -> None:
    assert outbox.absolute_url(db, "/rutas/7") == f"{BASE_URL}/rutas/7"


# --- the "Correo saliente" page -----------------------------------------------------------


@pytest.fixture
def admin(db: Session, make: Factory) -> User:
    user = make.user(Role.ADMINISTRADOR, email="admin@ibague.gov.co")
    db.commit()
    return user


def rows_listed(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/admin/correo/\d+">([^<]+)</a></th>', html)


def test_outbox_page_lists_only_the_messages_of_the_admins_secretaria(
        db: Session, make: Factory, web: WebClient, admin: User) -> None:
    mine = queue(db, admin.secretaria, "mio", kind="pmi_aprobado")
    other = make.secretaria(name="Secretaría de Educación del Tolima", divipola="73")
    foreign = queue(db, other, "ajeno", kind="pmi_en_revision")
    web.login(admin.email)

    page = web.get("/admin/correo/")
    html = page.get_data(as_text=True)

    assert page.status_code == 200
    assert rows_listed(html) == [mine.subject]
    assert web.get(f"/admin/correo/{foreign.id}").status_code == 404
    assert web.post(f"/admin/correo/{foreign.id}/reintentar").status_code == 404


def test_outbox_page_filters_by_status_and_shows_the_last_error(
        db: Session, web: WebClient, admin: User) -> None:
    queue(db, admin.secretaria, "pendiente", kind="pmi_aprobado")
    failed = queue(db, admin.secretaria, "fallido", kind="ruta_cerrada",
                   status=OutboxStatus.FAILED, attempts=8,
                   last_error="No se pudo conectar con el servidor de correo. "
                              "ConnectionRefusedError: [Errno 111] Connection refused")
    web.login(admin.email)

    html = web.get("/admin/correo/?estado=failed").get_data(as_text=True)

    assert rows_listed(html) == [failed.subject]
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in html
    assert 'aria-current="page">Fallido (1)</a>' in html
    assert ">Todos (2)</a>" in html
    assert rows_listed(web.get("/admin/correo/?estado=otro").get_data(as_text=True)) == [
        failed.subject, "PMI aprobado: Institución Educativa San Simón"]


def test_message_page_shows_refused_recipients(db: Session, web: WebClient,
                                               admin: User) -> None:
    message = queue(db, admin.secretaria, "enviado", kind="pmi_aprobado",
                    to=("rectora@sansimon.edu.co", "nadie@sansimon.edu.co"),
                    status=OutboxStatus.SENT, attempts=1,
                    refused_recipients={"nadie@sansimon.edu.co": "550 5.1.1 No existe"})
    web.login(admin.email)

    html = web.get(f"/admin/correo/{message.id}").get_data(as_text=True)

    assert "Destinatarios rechazados por el servidor" in html
    assert '<span class="cell-email">nadie@sansimon.edu.co</span>: 550 5.1.1 No existe' in html
    assert "Reintentar el envío" not in html


def test_retrying_a_failed_message_puts_it_back_in_the_queue(
        db: Session, web: WebClient, admin: User) -> None:
    failed = queue(db, admin.secretaria, "fallido", status=OutboxStatus.FAILED, attempts=8,
                   last_error="El servidor de correo rechazó el mensaje. 554 spam")
    web.login(admin.email)
    web.get("/admin/correo/?estado=failed")

    before = datetime.now(UTC)
    response = web.post(f"/admin/correo/{failed.id}/reintentar")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/correo/{failed.id}"
    db.expire_all()
    row = db.get(OutboxMessage, failed.id)
    assert row is not None
    assert (row.status, row.attempts, row.claim_token) == (OutboxStatus.PENDING, 0, None)
    assert before - timedelta(seconds=1) <= row.next_attempt_at <= datetime.now(UTC)
    # The history of why it failed stays until the next attempt says otherwise.
    assert row.last_error == "El servidor de correo rechazó el mensaje. 554 spam"
    assert "El mensaje volvió a la cola" in web.get(response.headers["Location"]).get_data(
        as_text=True)


def test_retrying_an_unknown_message_needs_the_duplicate_warning_confirmed(
        db: Session, web: WebClient, admin: User) -> None:
    unknown = queue(db, admin.secretaria, "incierto", status=OutboxStatus.UNKNOWN, attempts=1)
    web.login(admin.email)
    page = web.get(f"/admin/correo/{unknown.id}").get_data(as_text=True)
    assert "Si lo reintenta, los destinatarios pueden recibirlo dos veces." in page

    unconfirmed = web.post(f"/admin/correo/{unknown.id}/reintentar")

    assert unconfirmed.status_code == 422
    assert "Confirme que entiende que el mensaje puede llegar dos veces" in (
        unconfirmed.get_data(as_text=True))
    db.expire_all()
    assert db.get(OutboxMessage, unknown.id).status is OutboxStatus.UNKNOWN  # type: ignore[union-attr]

    confirmed = web.post(f"/admin/correo/{unknown.id}/reintentar", {"confirmar": "si"})

    assert confirmed.status_code == 302
    db.expire_all()
    assert db.get(OutboxMessage, unknown.id).status is OutboxStatus.PENDING  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [OutboxStatus.PENDING, OutboxStatus.SENT])
def test_retrying_a_message_that_is_not_failed_changes_nothing(
        db: Session, web: WebClient, admin: User, status: OutboxStatus) -> None:
    message = queue(db, admin.secretaria, "otro", status=status, attempts=1)
    web.login(admin.email)
    web.get(f"/admin/correo/{message.id}")

    response = web.post(f"/admin/correo/{message.id}/reintentar", {"confirmar": "si"})

    assert response.status_code == 409
    assert "solo se reintentan los mensajes fallidos o inciertos" in (
        response.get_data(as_text=True))
    db.expire_all()
    row = db.get(OutboxMessage, message.id)
    assert row is not None
    assert (row.status, row.attempts) == (status, 1)


def test_retry_without_the_form_token_is_refused(db: Session, web: WebClient,
                                                 admin: User) -> None:
    failed = queue(db, admin.secretaria, "fallido", status=OutboxStatus.FAILED)
    web.login(admin.email)

    response = web.post(f"/admin/correo/{failed.id}/reintentar", csrf=False)

    assert response.status_code == 400
    db.expire_all()
    assert db.get(OutboxMessage, failed.id).status is OutboxStatus.FAILED  # type: ignore[union-attr]


@pytest.mark.parametrize("role", [Role.CONSULTA, Role.REVISOR, Role.RECTOR, Role.EQUIPO])
def test_outbox_is_for_administrators_only(db: Session, make: Factory, web: WebClient,
                                           admin: User, role: Role) -> None:
    failed = queue(db, admin.secretaria, "fallido", status=OutboxStatus.FAILED)
    user = make.user(role, secretaria=admin.secretaria)
    db.commit()
    web.login(user.email)

    assert web.get("/admin/correo/").status_code == 403
    assert web.get(f"/admin/correo/{failed.id}").status_code == 403
    assert web.post(f"/admin/correo/{failed.id}/reintentar").status_code == 403
    db.expire_all()
    assert db.get(OutboxMessage, failed.id).status is OutboxStatus.FAILED  # type: ignore[union-attr]


@pytest.mark.parametrize(("role", "shown"), [(Role.ADMINISTRADOR, True),
                                             (Role.REVISOR, False), (Role.CONSULTA, False)])
def test_only_administrators_see_the_outbox_in_the_menu(db: Session, make: Factory,
                                                       web: WebClient, role: Role,
                                                       shown: bool) -> None:
    user = make.user(role)
    db.commit()
    web.login(user.email)
    html = web.get("/revision/").get_data(as_text=True)
    assert ('<li><a href="/admin/correo/">Correo saliente</a></li>' in html) is shown


def test_retry_service_refuses_other_roles(db: Session, make: Factory, admin: User) -> None:
    failed = queue(db, admin.secretaria, "fallido", status=OutboxStatus.FAILED)
    reviewer = make.user(Role.REVISOR, secretaria=admin.secretaria)

    with pytest.raises(Forbidden):
        delivery.retry(db, failed, actor=reviewer)


def test_the_inciertos_of_a_period_are_counted_then_retried_at_once_after_the_warning(
        db: Session, web: WebClient, admin: User, make: Factory) -> None:
    """After a crash: every «incierto» message created in the days chosen (Bogotá) goes back
    to the queue in one step, once the administrador saw how many and confirmed."""
    mine = admin.secretaria
    in_period = [queue(db, mine, f"incierto:{number}", status=OutboxStatus.UNKNOWN,
                       attempts=1, claim_token="x", handed_at=NOW) for number in range(3)]
    # 4 March 2025, 23:30 in Bogotá is 5 March in UTC: still inside a period ending on the 4th.
    late = queue(db, mine, "incierto:tarde", status=OutboxStatus.UNKNOWN, attempts=1,
                 created_at=datetime(2025, 3, 5, 4, 30, tzinfo=UTC))
    earlier = queue(db, mine, "incierto:antes", status=OutboxStatus.UNKNOWN, attempts=1,
                    created_at=NOW - timedelta(days=10))
    failed = queue(db, mine, "fallido", status=OutboxStatus.FAILED, attempts=8)
    foreign = queue(db, make.secretaria(name="Otra", divipola="05001"), "ajeno",
                    status=OutboxStatus.UNKNOWN, attempts=1)
    web.login(admin.email)
    period = {"desde": "2025-03-01", "hasta": "2025-03-04"}

    index = web.get("/admin/correo/").get_data(as_text=True)
    preview = web.get("/admin/correo/inciertos", query_string=period).get_data(as_text=True)
    backwards = web.get("/admin/correo/inciertos",
                        query_string={"desde": "2025-03-04", "hasta": "2025-03-01"})
    unconfirmed = web.post("/admin/correo/inciertos", period)
    bad_date = web.post("/admin/correo/inciertos",
                        {"desde": "2025-02-30", "hasta": "ayer", "confirmar": "si"})
    db.expire_all()
    untouched = {row.id: row.status for row in db.scalars(select(OutboxMessage))}
    confirmed = web.post("/admin/correo/inciertos", {**period, "confirmar": "si"})
    db.expire_all()
    after = {row.id: row for row in db.scalars(select(OutboxMessage))}

    assert "Reintentar todos los inciertos de un periodo</a> (5 en total)" in index
    assert "4 mensajes inciertos creados entre el 2025-03-01 y el 2025-03-04" in preview
    assert "Reintentar 4 mensajes</button>" in preview
    assert "los recibirán dos veces" in preview
    assert backwards.status_code == 200
    assert "La fecha final no puede ser anterior a la inicial." in backwards.get_data(
        as_text=True)
    assert unconfirmed.status_code == 422
    assert "Confirme que entiende que el mensaje puede llegar dos veces" in (
        unconfirmed.get_data(as_text=True))
    assert 'name="desde" value="2025-03-01"' in unconfirmed.get_data(as_text=True)
    assert bad_date.status_code == 422
    assert "Escriba la fecha inicial del periodo" in bad_date.get_data(as_text=True)
    assert 'value="ayer"' in bad_date.get_data(as_text=True)
    assert set(untouched.values()) == {OutboxStatus.UNKNOWN, OutboxStatus.FAILED}
    assert confirmed.status_code == 302
    assert "4 mensajes inciertos volvieron a la cola" in web.get(
        confirmed.headers["Location"]).get_data(as_text=True)
    for row in [*in_period, late]:
        assert (after[row.id].status, after[row.id].attempts, after[row.id].handed_at,
                after[row.id].claim_token) == (OutboxStatus.PENDING, 0, None, None)
    assert after[earlier.id].status is OutboxStatus.UNKNOWN
    assert after[failed.id].status is OutboxStatus.FAILED
    assert after[foreign.id].status is OutboxStatus.UNKNOWN


def test_only_administradores_reach_the_inciertos_of_a_period(
        db: Session, web: WebClient, make: Factory) -> None:
    reviewer = make.user(Role.REVISOR)
    db.commit()
    web.login(reviewer.email)

    assert web.get("/admin/correo/inciertos").status_code == 403
    assert web.post("/admin/correo/inciertos", {"desde": "2025-03-01", "hasta": "2025-03-04",
                                                 "confirmar": "si"}).status_code == 403


# --- rendering many messages (fill-ins) ------------------------------------------------------

REMINDER_CONTEXT: dict[str, Any] = {
    "secretaria_name": "Secretaría de Educación de Ibagué", "school_name": "I. E. San Simón",
    "dane_code": "173001000123", "horizon": "2024–2026", "rector_name": "María Pérez",
    "state_label": "Borrador", "ruta_url": "https://ruta.ibague.gov.co/rutas/7",
    "today": "19 de enero de 2026", "deadline": "15 de enero de 2026",
    "deadline_iso": "2026-01-15", "days_late": 4, "week": "semana del 19 al 25 de enero",
    "summary": "El plazo del PMI venció."}


def test_batch_rendering_writes_what_rendering_each_alone_writes() -> None:
    renderer = outbox.BatchRenderer()
    tricky = ["Colegio <b>«Técnico»</b> & \"San\" José's", "  Escuela\n\tdel   Sur  ",
              "x" * 400, "Marca \ue000" + "0\ue001 dentro", ""]
    contexts = [{**REMINDER_CONTEXT, "school_name": f"Escuela {number}",
                 "ruta_url": f"https://ruta.ibague.gov.co/rutas/{number}?a=1&b=2",
                 "dane_code": f"1730010{number:05d}", "summary": f"Resumen {number}"}
                for number in range(50)]
    contexts += [{**REMINDER_CONTEXT, name: value} for name in ("school_name", "rector_name")
                 for value in tricky]
    contexts += [{**REMINDER_CONTEXT, "days_late": 1}, {**REMINDER_CONTEXT, "school_name": 7},
                 {**REMINDER_CONTEXT, "week": ["no", "hashable"]}]

    for context in contexts:
        assert renderer("recordatorio_pmi_vencido", context) == outbox.render(
            "recordatorio_pmi_vencido", context), context

    # The 50 schools shared one rendering: names the templates never use (the DANE code,
    # the summary) did not tell them apart; an empty rector (a test), another number of days
    # late (a comparison) did.
    assert len(renderer._skeletons) < 12
    with pytest.raises(ValueError, match="not an e-mail kind"):
        renderer("../secreto", REMINDER_CONTEXT)


def test_batch_rendering_fills_in_only_names_the_templates_just_print_or_test() -> None:
    fill_ins, used = outbox._fill_ins("recordatorio_pmi_vencido")
    # rector_name is tested ({% if %}) and printed; days_late is compared; dane_code and
    # summary are not used by these templates at all.
    assert {"school_name", "ruta_url", "rector_name", "secretaria_name"} <= set(fill_ins)
    assert "days_late" not in fill_ins and "days_late" in used
    assert not {"dane_code", "summary"} & used
    # observations_block tests and splits its observations: never a fill-in.
    assert "observations" not in outbox._fill_ins("ruta_devuelta")[0]
    assert "observations" in outbox._fill_ins("ruta_devuelta")[1]


def test_a_kind_the_batch_renders_wrongly_is_rendered_whole(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # As if the analysis misread a template: the fill-ins would not give render()'s bodies.
    monkeypatch.setattr(outbox, "_escaped", lambda value: value.upper())
    renderer = outbox.BatchRenderer()
    contexts = [{**REMINDER_CONTEXT, "school_name": f"Escuela <{number}>"} for number in range(3)]
    with caplog.at_level("WARNING", logger="workflow.outbox"):
        for context in contexts:
            assert renderer("recordatorio_pmi_vencido", context) == outbox.render(
                "recordatorio_pmi_vencido", context)
    assert renderer._skeletons == {}
    assert [record.getMessage() for record in caplog.records] == [
        "Los correos «recordatorio_pmi_vencido» se escriben uno por uno: su plantilla no "
        "admite el relleno por lotes."]


def test_escaped_is_what_autoescape_prints() -> None:
    from markupsafe import escape

    for value in ["<a href=\"x\">&'</a>", "plain", "&amp; ya escapado", "«comillas»"]:
        assert outbox._escaped(value) == str(escape(value))
