"""The demo shows «Pendientes» of every kind, and ``ruta jobs resumen-pendientes`` mails the
demo's revisores once a week."""

from __future__ import annotations

from collections import Counter

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.models import Ruta, School, User
from workflow.pendientes.desk import (
    KINDS,
    Filters,
    count_pending,
    counts_by_kind,
    items_of,
    ordered,
    pending_union,
)


def user(db: Session, email: str) -> User:
    return db.scalars(select(User).where(User.email == email)).one()


def test_the_demo_has_pending_items_of_every_kind_and_mails_the_digest_once(
        app: Flask, db: Session) -> None:
    runner = app.test_cli_runner()
    loaded = runner.invoke(args=["demo", "--schools", "14", "--password", "clave-demo-larga"])
    assert loaded.exit_code == 0, loaded.output

    admin = user(db, "admin@ruta.demo")
    counts = counts_by_kind(db, admin)
    assert set(counts) == set(KINDS) and all(counts.values()), counts
    # The counts (the menu's badge, the desk's tabs) leave out when each item started
    # waiting; they still count exactly the rows the desk lists, for every actor and «míos».
    for actor in (admin, user(db, "revisor1@ruta.demo"), user(db, "revisor2@ruta.demo")):
        for mine in (False, True):
            listed = db.execute(ordered(pending_union(actor, Filters(mine=mine)))).all()
            assert count_pending(db, actor, Filters(mine=mine)) == len(listed) > 0
            assert {kind: amount for kind, amount in counts_by_kind(
                db, actor, Filters(mine=mine)).items() if amount} == Counter(
                row.kind for row in listed), (actor.email, mine)
    newcomer = items_of(db, db.execute(ordered(pending_union(
        admin, Filters(kind="sin_rector")))).all())
    assert [(item.school.name, item.days) for item in newcomer] == [
        ("Institución Educativa Rural Totumo", 12)]
    assert "Yolanda Barrios Medina fue invitado(a)" in newcomer[0].what

    # Ruta 1's report 2 (returned, answered, resent in 2024) waits, with its answer.
    first_ruta = db.scalars(select(Ruta).join(School).order_by(School.id, Ruta.id)
                            .where(Ruta.horizon_start_year == 2024)).first()
    revisor = user(db, "revisor1@ruta.demo")
    waiting = [item for item in items_of(db, db.execute(ordered(pending_union(
        revisor, Filters(mine=True)))).all()) if item.ruta == first_ruta]
    kinds = Counter(item.kind for item in waiting)
    assert kinds["informe"] >= 1 and kinds["observaciones_informe"] == 1
    resent = next(item for item in waiting if item.what.endswith("devolución)."))
    assert resent.since.year == 2024 and resent.holder == revisor

    first = runner.invoke(args=["jobs", "resumen-pendientes"])
    assert first.exit_code == 0, first.output
    assert "revisor1@ruta.demo:" in first.output and "revisor2@ruta.demo:" in first.output
    assert "2 correo(s) encolado(s)." in first.output
    again = runner.invoke(args=["jobs", "resumen-pendientes"])
    assert "ya se había enviado: no se encoló nada." in again.output
