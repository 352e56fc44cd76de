"""Several tables' rows in one SQL statement, loaded as the session's own ORM objects (issue 17).

A page that draws a whole plan reads a dozen small tables, each row set by one SELECT: a dozen
round trips for a few kilobytes. ``fetch`` sends the SELECTs as scalar subqueries of a single
statement, each aggregated into a JSON array of its rows (``json_agg`` on PostgreSQL,
``json_group_array`` on SQLite), and ``hydrate`` turns each row into the mapped object the
session would have loaded: same identity, same values, placed in the identity map as
persistent and unmodified, so later lazy loads of a many-to-one find it without SQL.

JSON carries fewer types than the columns: each value is converted back as the column's type
would have converted the driver's value (dates and timestamps from ISO text, booleans from
SQLite's integers, enums through the enum's own result processing, a ``TypeDecorator`` through
its ``process_result_value``). tests/core/test_json_rows.py compares every column of every
object so loaded with the ORM's own load, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Select,
    TypeDecorator,
    bindparam,
    func,
    select,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.sql.elements import BindParameter, literal_column

T = TypeVar("T")
Row = dict[str, Any]


def _aggregate(dialect: str, query: Select[Any]) -> Any:
    rows = query.subquery()
    pairs: list[Any] = []
    for column in rows.c:
        if not column.name.isidentifier():  # the key is written into the statement
            raise ValueError(f"unexpected column name {column.name!r}")
        value: Any = column
        if dialect == "sqlite" and isinstance(_stored(column.type), JSON):
            value = func.json(column)  # embedded as JSON, not as the text SQLite keeps
        pairs += [literal_column(f"'{column.name}'"), value]
    if dialect == "postgresql":
        aggregate = func.json_agg(func.json_build_object(*pairs))
    else:
        aggregate = func.json_group_array(func.json_object(*pairs))
    return select(aggregate).select_from(rows).scalar_subquery()


class Batch:
    """Queries read together by ``fetch``, each filtered by the one parameter ``ruta_id``
    (``bindparam``). Their statement is built once per database dialect and process: building
    a dozen subqueries costs more Python than the database takes to answer them."""

    def __init__(self, build: Callable[[BindParameter[int]], Mapping[str, Select[Any]]]) -> None:
        self._build = build
        self.names = tuple(build(bindparam("ruta_id", type_=Integer)))
        self._statements: dict[str, Select[Any]] = {}

    def statement(self, dialect: str) -> Select[Any]:
        found = self._statements.get(dialect)
        if found is None:
            queries = self._build(bindparam("ruta_id", type_=Integer))
            found = self._statements[dialect] = select(*(
                _aggregate(dialect, queries[name]).label(name) for name in self.names))
        return found


def fetch(session: Session, batch: Batch, ruta_id: int, *,
          fresh: bool = False) -> dict[str, list[Row]]:
    """Each of ``batch``'s queries' rows for ``ruta_id``, keyed by column name with JSON
    values, from one statement.

    Every query selects plain columns (a table's, or some of them); the order of its rows is
    not kept (sort them after ``hydrate``). ``fresh`` goes to the database even where a GET
    request's read memo (``ruta.read_memo``) holds the same statement's answer."""
    statement = batch.statement(session.get_bind().dialect.name)
    if fresh:
        statement = statement.execution_options(populate_existing=True)
    values = session.execute(statement, {"ruta_id": ruta_id}).one()
    found = {}
    for name, value in zip(batch.names, values, strict=True):
        if isinstance(value, str | bytes):
            value = json.loads(value)
        found[name] = value or []  # json_agg of no row is NULL
    return found


def _stored(column_type: Any) -> Any:
    return column_type.impl_instance if isinstance(column_type, TypeDecorator) else column_type


def _converter(column_type: Any, dialect: Any) -> Any:
    stored = _stored(column_type)
    if isinstance(stored, JSON):
        base: Any = None  # already parsed by ``fetch``
    elif isinstance(stored, DateTime):
        base = datetime.fromisoformat
    elif isinstance(stored, Date):
        base = date.fromisoformat
    elif isinstance(stored, Boolean):
        base = bool
    elif isinstance(stored, Float):
        base = float
    else:
        base = stored.result_processor(dialect, None)  # enums; None for ints and text
    if isinstance(column_type, TypeDecorator):
        def decorated(value: Any, base: Any = base) -> Any:
            return column_type.process_result_value(
                base(value) if base is not None else value, dialect)
        return decorated
    return base


_COLUMNS: dict[tuple[Any, str], list[tuple[str, str, Any]]] = {}


def _columns(mapper: Any, dialect: Any) -> list[tuple[str, str, Any]]:
    """(attribute, column name, converter) of each of the mapper's table columns."""
    key = (mapper, dialect.name)
    found = _COLUMNS.get(key)
    if found is None:
        found = _COLUMNS[key] = [
            (prop.key, prop.columns[0].name, _converter(prop.columns[0].type, dialect))
            for prop in mapper.column_attrs
            if len(prop.columns) == 1 and prop.columns[0].table is mapper.local_table]
    return found


def hydrate(session: Session, model: type[T], rows: Iterable[Row], *,
            fresh: bool = False) -> list[T]:
    """``rows`` of ``model``'s table as the session's objects, in primary-key order.

    An object the session already holds keeps what it has loaded (as a query's rows would
    leave it), and gets what it lacks (expired or deferred columns); ``fresh`` overwrites
    what it has, as ``populate_existing`` does."""
    mapper = sa_inspect(model)
    columns = _columns(mapper, session.get_bind().dialect)
    primary = [column.name for column in mapper.primary_key]
    objects = []
    for row in rows:
        values = {key: (row[name] if row[name] is None or convert is None
                        else convert(row[name])) for key, name, convert in columns}
        ident = mapper.identity_key_from_primary_key([row[name] for name in primary])
        existing = session.identity_map.get(ident)
        if existing is not None:
            state = instance_state(existing)
            for key, value in values.items():
                if fresh or key not in state.dict:
                    set_committed_value(existing, key, value)
            objects.append(existing)
            continue
        instance = mapper.class_manager.new_instance()
        # As a query's loading does: the values go straight into the state, with no history
        # (``make_transient_to_detached`` commits them and gives the object its identity).
        instance_state(instance).dict.update(values)
        make_transient_to_detached(instance)
        session.add(instance)  # detached with an identity: joins as persistent, no SQL
        objects.append(instance)
    return sorted(objects, key=lambda obj: instance_state(obj).key[1])


def attach(parents: Iterable[Any], key: str, children: Mapping[Any, Sequence[Any]], *,
           fresh: bool = False) -> None:
    """Set each parent's collection ``key`` to ``children[parent's primary key]`` (empty when
    absent) as loaded, unless already loaded and not ``fresh``."""
    for parent in parents:
        state = instance_state(parent)
        if fresh or key not in state.dict:
            set_committed_value(parent, key, list(children.get(state.key[1][0], ())))
