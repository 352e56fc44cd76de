"""The scope registry: every model reached by id has exactly one rule, or scoping refuses."""

from __future__ import annotations

import pytest
from sqlalchemy import Select
from sqlalchemy.orm import Session

from tests.conftest import Factory
from workflow import scoping
from workflow.catalogo.models import Catalog
from workflow.horizontes.models import FollowUpCheckpoint
from workflow.models import OPENED, OutboxMessage, Ruta, RutaTransition, School, User
from workflow.roles import Role


def test_a_model_without_a_rule_is_refused_instead_of_shown(db: Session,
                                                            make: Factory) -> None:
    class Unscoped:
        pass

    admin = make.user(Role.ADMINISTRADOR)
    with pytest.raises(TypeError, match="no scope rule for Unscoped"):
        scoping.scoped(admin, Unscoped)  # type: ignore[type-var]


def test_a_second_rule_for_the_same_model_is_refused() -> None:
    with pytest.raises(RuntimeError, match="Ruta already has a scope rule"):
        scoping.scope_rule(Ruta, not_found="otra")(lambda actor, statement: statement)


@pytest.mark.parametrize(("model", "message"), [
    (School, "No encontramos esa institución educativa."),
    (Ruta, "No encontramos esa Ruta de Mejoramiento."),
    (User, "No encontramos ese usuario."),
    (RutaTransition, "No encontramos ese registro del historial."),
    (OutboxMessage, "No encontramos ese mensaje."),
    # Registered by their stage packages, beside the model.
    (FollowUpCheckpoint, "No encontramos ese corte de seguimiento."),
    (Catalog, "No encontramos ese catálogo."),
])
def test_every_model_reached_by_id_has_its_rule_and_message(model: type, message: str) -> None:
    assert scoping.not_found_message(model) == message


def test_an_inactive_actor_sees_nothing(db: Session, make: Factory) -> None:
    ruta = make.ruta()
    reviewer = make.user(Role.REVISOR, secretaria=ruta.school.secretaria)
    assert db.scalars(scoping.scoped(reviewer, Ruta)).all() == [ruta]
    reviewer.active = False
    statement: Select[tuple[Ruta]] = scoping.scoped(reviewer, Ruta)
    assert db.scalars(statement).all() == []



@pytest.mark.parametrize("model", [School, Ruta, User, RutaTransition, OutboxMessage])
def test_the_statement_built_once_per_role_sees_what_each_actor_sees(
        db: Session, make: Factory, model: type) -> None:
    """``scoped_with_parameters`` keeps one statement per role and binds the actor's ids:
    every actor, of every role, in two Secretarías, sees exactly what ``scoped`` shows."""
    actors = []
    for name, divipola in (("Secretaría de Educación de Ibagué", "73001"),
                           ("Secretaría de Educación del Tolima", "73")):
        secretaria = make.secretaria(name, divipola)
        for _ in range(2):
            ruta = make.ruta(school=make.school(secretaria))
            db.add(RutaTransition(ruta=ruta, trigger=OPENED, to_state=ruta.state))
            db.add(OutboxMessage(secretaria_id=secretaria.id, ruta_id=ruta.id, kind="prueba",
                                 dedupe_key=f"prueba-{ruta.id}", recipients=["a@prueba.co"],
                                 subject="Asunto", text_body="Cuerpo", html_body="<p>C</p>"))
            actors += [make.user(role, secretaria=secretaria,
                                 school=ruta.school if role.belongs_to_school else None)
                       for role in Role]
    db.flush()
    for actor in [*actors, make.user(Role.REVISOR, active=False)]:
        statement, parameters = scoping.scoped_with_parameters(actor, model)
        seen = sorted(row.id for row in db.scalars(statement, parameters))
        assert seen == sorted(row.id for row in db.scalars(scoping.scoped(actor, model)))
    first, last = actors[0], actors[-len(Role)]  # the same role, other Secretaría and school
    assert first.role is last.role and first.secretaria_id != last.secretaria_id
    assert (scoping.scoped_with_parameters(first, model)[0]
            is scoping.scoped_with_parameters(last, model)[0])


def test_a_rule_reading_more_of_the_actor_than_its_ids_fails_loudly(
        make: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    reviewer = make.user(Role.REVISOR)
    monkeypatch.setitem(scoping._RULES, School, scoping.ScopeRule(
        lambda actor, statement: statement.where(School.name == actor.email), "No."))
    scoping._scoped_once.cache_clear()  # nothing built with the real rule is reused, nor kept
    try:
        with pytest.raises(AttributeError, match="email"):
            scoping.scoped_with_parameters(reviewer, School)
    finally:
        scoping._scoped_once.cache_clear()
