"""The version of what a Secretaría's lists count (``scope_versions``): every change the
triggers of migration 0039 watch replaces the Secretaría's token, other changes keep it, and
what the process keeps under a token is never shown after a change (on both databases)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from blueprints import revision
from tests.conftest import Factory, WebClient
from tests.pendientes.helpers import Desk, build_desk
from tests.query_counter import counting_statements
from workflow import scope_versions
from workflow.ajustes.machine import AdjustmentState
from workflow.ajustes.models import AdjustmentChange, ChangeKind, PlanAdjustment
from workflow.memo import Memo
from workflow.models import OutboxMessage, OutboxStatus, Ruta, School, ScopeVersion, User, Zona
from workflow.observations import ObservationStatus
from workflow.pmi.models import Observation
from workflow.roles import Role
from workflow.seguimiento.models import FollowUpObservation, FollowUpReport
from workflow.states import State


def token_of(db: Session, secretaria_id: int, kind: str = scope_versions.LISTS) -> str | None:
    return db.scalar(select(ScopeVersion.token).where(
        ScopeVersion.secretaria_id == secretaria_id, ScopeVersion.kind == kind))


def _new_school(db: Session, desk: Desk) -> None:
    db.execute(insert(School).values(
        secretaria_id=desk.revisor.secretaria_id, dane_code="173001999999",
        name="Institución Educativa Nueva", zona=Zona.RURAL, locality="Corregimiento Nuevo"))


def _change_of(db: Session, desk: Desk) -> AdjustmentChange:
    return AdjustmentChange(adjustment_id=desk.adjustment.id, kind=ChangeKind.ADD,
                            element_kind="meta", proposed={}, justification="Lo piden.",
                            created_by_id=desk.plan.rector.id)


def _report_observation(db: Session, desk: Desk) -> FollowUpObservation:
    return FollowUpObservation(report_id=desk.report.id, element="report",
                               element_label="El informe", text="Precise el avance.",
                               status=ObservationStatus.BORRADOR, author_id=desk.revisor.id)


#: Each change the triggers watch, by table (Core statements and ORM flushes alike).
WATCHED: dict[str, Callable[[Session, Desk], object]] = {
    "schools: a new one": _new_school,
    "schools: renamed": lambda db, desk: db.execute(
        update(School).where(School.id == desk.no_rector.id).values(name="Otro nombre")),
    "users: a rector deactivated": lambda db, desk: setattr(
        desk.invited_rector, "active", False),
    "rutas: a state": lambda db, desk: setattr(desk.to_take, "state", State.EN_REVISION),
    "rutas: a reviewer": lambda db, desk: setattr(desk.to_take, "reviewer_id",
                                                  desk.revisor.id),
    "rutas: a new one": lambda db, desk: db.add(Ruta(
        school_id=desk.no_rector.id, horizon_start_year=2024, horizon_end_year=2026)),
    "plan_adjustments: decided": lambda db, desk: setattr(
        desk.adjustment, "state", AdjustmentState.DEVUELTO),
    "plan_adjustments: deleted": lambda db, desk: db.execute(
        delete(PlanAdjustment).where(PlanAdjustment.id == desk.adjustment.id)),
    "plan_adjustment_changes: a new one": lambda db, desk: db.add(_change_of(db, desk)),
    "pmi_observations: judged": lambda db, desk: db.execute(
        update(Observation).where(Observation.ruta_id == desk.in_review.id)
        .values(status=ObservationStatus.RESUELTA)),
    "follow_up_reports: acknowledged": lambda db, desk: db.execute(
        update(FollowUpReport).where(FollowUpReport.id == desk.report.id)
        .values(status="reconocido")),
    "follow_up_observations: a new one": lambda db, desk: db.add(
        _report_observation(db, desk)),
}

#: Each change of the outbox the triggers watch: its own token moves, the lists' stays.
OUTBOX_WATCHED: dict[str, Callable[[Session, Desk], object]] = {
    "outbox: a message queued": lambda db, desk: db.execute(insert(OutboxMessage).values(
        secretaria_id=desk.revisor.secretaria_id, kind="prueba", dedupe_key="prueba-1",
        recipients=["a@prueba.co"], subject="Prueba", text_body="Hola", html_body="<p>Hola")),
    "outbox: a message sent": lambda db, desk: db.execute(
        update(OutboxMessage).where(OutboxMessage.secretaria_id == desk.revisor.secretaria_id)
        .values(status=OutboxStatus.SENT, sent_at=OutboxMessage.created_at)),
}

#: Changes nothing the lists count reads: the token stays.
UNWATCHED: dict[str, Callable[[Session, Desk], object]] = {
    "rutas: the catalog": lambda db, desk: db.execute(
        update(Ruta).where(Ruta.id == desk.to_take.id).values(catalog_id=None)),
    "users: a sign-in": lambda db, desk: db.execute(
        update(User).where(User.id == desk.revisor.id).values(last_login_at=User.created_at)),
    "follow_up_reports: its text": lambda db, desk: db.execute(
        update(FollowUpReport).where(FollowUpReport.id == desk.report.id)
        .values(dificultades="Ninguna.")),
}


@pytest.fixture
def desk(db: Session, make: Factory) -> Desk:
    return build_desk(db, make)


@pytest.mark.parametrize("change", list(WATCHED))
def test_a_watched_change_replaces_the_token_when_it_commits(
        db: Session, desk: Desk, make: Factory, change: str) -> None:
    secretaria_id = desk.revisor.secretaria_id
    elsewhere = make.school(make.secretaria("Secretaría de Educación del Tolima", "73"))
    db.commit()
    before, other = token_of(db, secretaria_id), token_of(db, elsewhere.secretaria_id)
    assert before is not None and other is not None
    WATCHED[change](db, desk)
    db.flush()
    # The transaction that wrote is given no token: what it would count is not yet
    # anyone else's (on PostgreSQL the token changes at the commit).
    assert scope_versions.token(db, secretaria_id) is None or db.bind.dialect.name == "sqlite"
    db.commit()
    after = token_of(db, secretaria_id)
    assert after is not None and after != before
    assert token_of(db, elsewhere.secretaria_id) == other
    assert scope_versions.token(db, secretaria_id) == after


@pytest.mark.parametrize("change", list(OUTBOX_WATCHED))
def test_an_outbox_change_replaces_the_outbox_token_only(db: Session, desk: Desk,
                                                        change: str) -> None:
    secretaria_id = desk.revisor.secretaria_id
    lists, outbox = (token_of(db, secretaria_id, kind)
                     for kind in (scope_versions.LISTS, scope_versions.OUTBOX))
    OUTBOX_WATCHED[change](db, desk)
    db.commit()
    assert token_of(db, secretaria_id, scope_versions.OUTBOX) not in (None, outbox)
    assert token_of(db, secretaria_id) == lists


def test_a_transaction_replaces_a_token_once(db: Session, desk: Desk, backend: str) -> None:
    """However many rows it changes (the daily pass queues thousands of reminders)."""
    if backend != "postgresql":
        pytest.skip("SQLite's triggers replace it at each change (one writer at a time)")
    # Every replacement counted, in this transaction only (rolled back below).
    db.execute(text("CREATE TEMPORARY TABLE replaced (kind text) ON COMMIT DROP"))
    db.execute(text("CREATE FUNCTION pg_temp.note_replaced() RETURNS trigger "
                    "LANGUAGE plpgsql AS $$ BEGIN INSERT INTO replaced VALUES (NEW.kind); "
                    "RETURN NULL; END $$"))
    db.execute(text("CREATE TRIGGER note_replaced AFTER UPDATE ON scope_versions "
                    "FOR EACH ROW EXECUTE FUNCTION pg_temp.note_replaced()"))
    for ruta in (desk.to_take, desk.in_review, desk.plan.ruta):
        ruta.reviewer_id = desk.other_revisor.id
    db.flush()
    db.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # the deferred triggers fire now
    # Each token that watches a Ruta's reviewer once: the lists' and the queue's (0043).
    assert sorted(db.scalars(text("SELECT kind FROM replaced"))) == ["lists", "queue"]
    db.rollback()


@pytest.mark.parametrize("change", list(UNWATCHED))
def test_other_changes_keep_the_token(db: Session, desk: Desk, change: str) -> None:
    secretaria_id = desk.revisor.secretaria_id
    before = token_of(db, secretaria_id)
    UNWATCHED[change](db, desk)
    db.commit()
    assert token_of(db, secretaria_id) == before


def test_a_rolled_back_change_keeps_the_token(db: Session, desk: Desk) -> None:
    secretaria_id = desk.revisor.secretaria_id
    before = token_of(db, secretaria_id)
    desk.to_take.state = State.EN_REVISION
    db.flush()
    db.rollback()
    assert token_of(db, secretaria_id) == before


def test_cached_computes_once_per_token(db: Session, desk: Desk) -> None:
    memo: Memo[int] = Memo(4)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    secretaria_id = desk.revisor.secretaria_id
    assert [scope_versions.cached(memo, db, secretaria_id, "k", compute)
            for _ in range(3)] == [1, 1, 1]
    desk.to_take.state = State.EN_REVISION
    db.commit()
    assert scope_versions.cached(memo, db, secretaria_id, "k", compute) == 2
    assert scope_versions.cached(memo, db, secretaria_id, "otra", compute) == 3


def test_bump_all_gives_every_secretaria_a_new_token(db: Session, desk: Desk) -> None:
    secretaria_id = desk.revisor.secretaria_id
    before = token_of(db, secretaria_id)
    scope_versions.bump_all(db.connection())
    db.commit()
    assert token_of(db, secretaria_id) not in (None, before)


def _tabs(web: WebClient, url: str = "/revision/") -> str:
    """The page, without its forms' tokens (they change every second)."""
    response = web.get(url)
    assert response.status_code == 200
    return re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))


def test_the_queue_shows_each_change_on_its_next_view(
        web: WebClient, db: Session, desk: Desk) -> None:
    """The counts by state, the comunas of the filter and the adjustments waiting are kept
    per process between views, and a change shows on the next one."""
    revision.STATE_COUNTS.clear()
    web.login(desk.revisor.email)
    html = _tabs(web)
    assert "PMI enviado a la Secretaría (1)" in html and "PMI en revisión (1)" in html
    assert "Ajustes del plan por decidir (1)" in html
    assert "Corregimiento Nuevo" not in html
    # Kept: the same page again answers the same.
    assert _tabs(web) == html

    desk.to_take.state = State.EN_REVISION
    desk.adjustment.state = AdjustmentState.DEVUELTO
    _new_school(db, desk)
    db.commit()
    html = _tabs(web)
    assert "PMI enviado a la Secretaría (0)" in html and "PMI en revisión (2)" in html
    assert "Ajustes del plan por decidir" not in html
    assert '<option value="Corregimiento Nuevo"' in html


def test_mis_rutas_counts_are_each_reviewers_own(web_factory: Callable[[], WebClient],
                                                 db: Session, desk: Desk,
                                                 make: Factory) -> None:
    """«Mis Rutas» is part of what the counts are kept under, and so is who asks."""
    other = make.user(Role.REVISOR, secretaria=desk.revisor.secretaria)
    db.commit()
    pages = []
    for person in (desk.revisor, other):
        browser = web_factory()
        assert browser.login(person.email).status_code == 302
        pages.append(_tabs(browser, "/revision/?revisor=mias"))
    mine, theirs = pages
    assert "Todas (1)" in mine  # the Ruta in seguimiento the revisor holds
    assert "Todas (0)" in theirs


def test_the_outbox_counts_show_each_change_on_the_next_view(
        web: WebClient, db: Session, desk: Desk) -> None:
    OUTBOX_WATCHED["outbox: a message queued"](db, desk)
    db.commit()
    web.login(desk.admin.email)
    html = _tabs(web, "/admin/correo/")
    pending = re.search(r"Pendiente \((\d+)\)", html)
    sent = re.search(r"Enviado \((\d+)\)", html)
    assert pending and sent and int(pending[1]) >= 1
    assert _tabs(web, "/admin/correo/") == html  # kept
    OUTBOX_WATCHED["outbox: a message sent"](db, desk)
    db.commit()
    html = _tabs(web, "/admin/correo/")
    assert "Pendiente (0)" in html
    assert f"Enviado ({int(sent[1]) + int(pending[1])})" in html


def test_the_queue_counts_again_only_after_a_change(app: Flask, web: WebClient, db: Session,
                                                    desk: Desk) -> None:
    """A view after a change counts what it shows (within the suite's limit of 12
    statements); the next views read the session, the horizons, the tokens and the rows."""
    web.login(desk.revisor.email)
    _tabs(web)
    desk.to_take.state = State.EN_REVISION
    db.commit()
    for most in (12, 4):
        with counting_statements(app) as statements:
            _tabs(web)
        assert statements.count <= most, "\n".join(statements.sent)
