"""The scope registry: every model reached by id has exactly one rule, or scoping refuses."""

from __future__ import annotations

import pytest
from sqlalchemy import Select
from sqlalchemy.orm import Session

from tests.conftest import Factory
from workflow import scoping
from workflow.catalogo.models import Catalog
from workflow.horizontes.models import FollowUpCheckpoint
from workflow.models import OutboxMessage, Ruta, RutaTransition, School, User
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
