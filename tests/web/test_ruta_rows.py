"""Issue 17: the Ruta page reads its stages' small tables in one statement (``ruta_rows``), and
draws exactly what the stages' own statements draw; a write forgets what was read."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import blueprints.rutas
from blueprints.access import ruta_page_tables
from ruta import read_memo
from tests.conftest import Factory, WebClient
from tests.query_counter import counting_statements
from workflow import page_stamps
from workflow.ajustes.models import PlanAdjustment
from workflow.autoevaluacion.models import Valoracion
from workflow.evidencias import storage
from workflow.models import Ruta, User
from workflow.pmi import takeover
from workflow.pmi.models import Observation, PmiSnapshot
from workflow.roles import Role
from workflow.ruta_rows import prefetch, rows_of, tables

DEMO_PASSWORD = "clave-demo-larga"


def without_tokens(html: str) -> str:
    return re.sub(r'name="(csrf_token|form_token)" value="[^"]*"', "", html)


def test_the_ruta_page_draws_the_same_with_and_without_the_prefetch(
        app: Flask, db: Session, web: WebClient, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    loaded = app.test_cli_runner().invoke(
        args=["demo", "--schools", "14", "--password", DEMO_PASSWORD])
    assert loaded.exit_code == 0, loaded.output
    # Nor has the daily pass queued reminders yet: one pass a week into the school year.
    ran = app.test_cli_runner().invoke(args=["jobs", "run-once", "--as-of", "2024-01-22"])
    assert ran.exit_code == 0, ran.output
    # The demo attaches no files: one for a valoración of every fifth Ruta.
    store = storage.LocalStorage(str(tmp_path))
    for ruta in db.scalars(select(Ruta).order_by(Ruta.id)).all()[::5]:
        valoracion = db.scalars(select(Valoracion).where(Valoracion.ruta_id == ruta.id)
                                .order_by(Valoracion.id)).first()
        if valoracion is not None:
            storage.store_file(db, store, ruta=ruta, uploaded_by=None, filename="acta.pdf",
                               stream=io.BytesIO(b"%PDF-1.4\n%%EOF\n"),
                               limits=storage.Limits(), valoracion_id=valoracion.id)
    # Nor any takeover: the second revisor takes a review the first one holds.
    held = db.scalars(select(Ruta).where(Ruta.reviewer_id.is_not(None))
                      .order_by(Ruta.id)).first()
    assert held is not None
    second = db.scalars(select(User).where(User.role == Role.REVISOR, User.active,
                                           User.id != held.reviewer_id)).first()
    assert second is not None
    assert takeover.take_over(db, held, reviewer=second, expected_version=held.version,
                              reason="El revisor anterior está de licencia médica.")
    # Nor has any adjustment been approved: one is given its Ruta's latest PMI version, as an
    # approval does.
    adjusted = db.scalars(select(PlanAdjustment).order_by(PlanAdjustment.id)).first()
    assert adjusted is not None
    version = db.scalars(select(PmiSnapshot).where(PmiSnapshot.ruta_id == adjusted.ruta_id)
                         .order_by(PmiSnapshot.number.desc())).first()
    assert version is not None
    adjusted.snapshot_id = version.id
    db.commit()
    # The demo fills every table the page reads ahead, so each reader is compared on rows.
    for model in ruta_page_tables():
        assert db.scalar(select(func.count()).select_from(model)), \
            f"the demo has no {model.__tablename__}"
    assert web.login("admin@ruta.demo", DEMO_PASSWORD).status_code == 302
    ruta_ids = db.scalars(select(Ruta.id).order_by(Ruta.id)).all()
    assert len(ruta_ids) >= 14

    pages = {}
    for ruta_id in ruta_ids:
        with counting_statements(app) as statements:
            response = web.get(f"/rutas/{ruta_id}")
        assert response.status_code == 200
        assert statements.count <= 12, statements.sent
        pages[ruta_id] = without_tokens(response.get_data(as_text=True))
    # An approved adjustment names the PMI version it left (its snapshot, linked by hand).
    assert f"({version.label.lower()} del PMI)" in pages[adjusted.ruta_id]
    monkeypatch.setattr(blueprints.rutas, "prefetch_ruta_page", lambda *_: None)
    page_stamps.RUTA_BODIES.clear()  # drawn again, not served as kept
    for ruta_id in ruta_ids:
        with counting_statements(app) as statements:
            response = web.get(f"/rutas/{ruta_id}")
        assert response.status_code == 200
        assert without_tokens(response.get_data(as_text=True)) == pages[ruta_id], ruta_id
        # Without it, each stage reads its own rows: the prefetch is what saves them.
        assert statements.count > 12


def test_rows_pending_in_the_session_or_written_since_are_read_again(
        app: Flask, make: Factory) -> None:
    ruta = make.ruta()
    author = make.user(Role.REVISOR, secretaria=ruta.school.secretaria)
    make.db.commit()
    with app.test_request_context("/"):
        session = app.extensions["ruta_db"].session()
        read_memo.enable(session)
        assert prefetch(session, ruta.id, tables([Observation]))
        assert rows_of(session, Observation, ruta.id) == []
        session.add(Observation(ruta_id=ruta.id, element="plan", element_label="Plan",
                                criterion=3, text="Falta la línea base.",
                                author_id=author.id))
        assert [row.text for row in rows_of(session, Observation, ruta.id)] == [
            "Falta la línea base."]
        session.rollback()
        assert rows_of(session, Observation, ruta.id) == []
    # Outside a GET request's session nothing is read ahead; the reader reads its rows.
    with app.extensions["ruta_db"].session_factory() as plain:
        assert not prefetch(plain, ruta.id, tables([Observation]))
        assert rows_of(plain, Observation, ruta.id) == []
