"""Issue 17: a catalog's tree is read in one statement and then served from the process's
cache, as immutable values, per catalog version."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.conftest import Factory
from workflow.catalogo import tree
from workflow.catalogo.models import Catalog


def statements_during(db: Session, action: object) -> tuple[list[str], object]:
    seen: list[str] = []
    engine = db.get_bind()

    def record(_connection: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        result = action()  # type: ignore[operator]
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen, result


def test_tree_is_read_once_per_process_in_one_statement(app: Flask, db: Session,
                                                        make: Factory) -> None:
    catalog_id = make.catalog().id
    db.commit()
    tree.clear()
    db.expunge_all()
    first = db.get(Catalog, catalog_id)
    assert first is not None
    seen, areas = statements_during(db, lambda: first.areas)
    assert len(seen) == 1 and "JOIN" in seen[0]
    assert [area.code for area in areas] == ["DIR", "ACA"]
    assert [[p.code for p in area.procesos] for area in areas] == [["DIR.1", "DIR.2"], ["ACA.1"]]
    assert [c.code for c in first.componente_nodes] == [
        c.code for c in first.componentes]
    # Another session, another row object: the process's cache answers.
    with Session(db.get_bind()) as other:
        again = other.get(Catalog, catalog_id)
        assert again is not None
        seen, same = statements_during(other, lambda: again.areas)
        assert seen == [] and same is areas
    # The way up, as the rows have it.
    componente = areas[0].procesos[0].componentes[0]
    assert componente.proceso.area is areas[0]


def test_tree_values_are_immutable_and_survive_the_session(app: Flask, db: Session,
                                                          make: Factory) -> None:
    catalog = make.catalog()
    db.commit()
    areas = catalog.areas
    db.close()
    # No ORM row inside: nothing to lazy-load or detach.
    assert catalog.areas is areas
    with pytest.raises(dataclasses.FrozenInstanceError):
        areas[0].name = "Otra"  # type: ignore[misc]
    assert all(dataclasses.is_dataclass(node) for node in
               (areas[0], areas[0].procesos[0], areas[0].procesos[0].componentes[0]))


def test_a_new_catalog_version_gets_its_own_tree(app: Flask, db: Session,
                                                 make: Factory) -> None:
    old = make.catalog()
    db.commit()
    old_areas = old.areas
    new = make.catalog("prueba-mini-2026")
    db.commit()
    assert new.id != old.id
    new_ids = {c.id for c in new.componente_nodes}
    assert new_ids and new_ids.isdisjoint({c.id for c in old.componente_nodes})
    assert {area.catalog_id for area in new.areas} == {new.id}
    assert old.areas is old_areas
