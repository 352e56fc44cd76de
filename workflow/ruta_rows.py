"""A Ruta's small tables read once per page, in one statement (issue 17).

The Ruta page draws every stage: the autoevaluación's valoraciones, priorizaciones and files,
the window's prórrogas, the plan, its versions, observations and rubric, the takeovers, the
seguimiento reports, the adjustments and their events, the final evaluation, the reminders.
Each stage's reader asked for its own rows: thirteen statements of a few rows each.

A page that knows it draws many of them calls ``prefetch`` first: one statement
(``json_rows.fetch``) brings every table's rows of the Ruta, kept in the GET request's read
memo (``ruta.read_memo``), which forgets them on any write, commit or rollback. Each reader
asks ``rows_of`` for its rows and orders or filters them itself; without a prefetch (a POST,
a job, a test calling the reader) ``rows_of`` reads the same rows with its own SELECT, so the
readers have one way of working whichever answered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Select, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from workflow import json_rows

#: Where the web app's read memo lives in ``Session.info`` (``ruta.read_memo``): present only
#: in a GET request's session, and emptied on every write, flush, commit and rollback.
MEMO_KEY = "ruta_read_memo"

T = TypeVar("T")


def tables(models: Iterable[type[Any]],
           extra: Callable[[BindParameter[int]], Mapping[str, Select[Any]]] | None = None,
           ) -> json_rows.Batch:
    """A ``prefetch`` of every row of the Ruta in each of ``models`` (tables with a
    ``ruta_id``) and the ``extra`` queries. Build it once (a module-level value): its
    statement is kept per dialect."""
    chosen = tuple(models)

    def build(ruta_id: BindParameter[int]) -> dict[str, Select[Any]]:
        queries = {model.__tablename__: select(model.__table__).where(
            model.__table__.c.ruta_id == ruta_id) for model in chosen}
        queries.update(extra(ruta_id) if extra else {})
        return queries

    return json_rows.Batch(build)


def memo_of(session: Session) -> dict[Any, Any] | None:
    """The GET request's read memo of ``session``, or None: outside a GET request, and while
    the session holds changes not yet flushed (then the memo is emptied first: what it
    answered may no longer be what the database will say once they are)."""
    memo: dict[Any, Any] | None = session.info.get(MEMO_KEY)
    if memo is None:
        return None
    if session.new or session.dirty or session.deleted:
        memo.clear()
        return None
    return memo


def _entry(session: Session, ruta_id: int) -> dict[str, Any] | None:
    memo = memo_of(session)
    return None if memo is None else memo.get(("ruta_rows", ruta_id))


def prefetch(session: Session, ruta_id: int, batch: json_rows.Batch) -> bool:
    """Read ``batch`` (``tables``) for the Ruta in one statement, for this GET request's
    readers. Does nothing (and answers False) outside a GET request."""
    memo = memo_of(session)
    if memo is None:
        return False
    found = json_rows.fetch(session, batch, ruta_id)
    memo[("ruta_rows", ruta_id)] = {"raw": found, "objects": {}}
    return True


def memoized(session: Session, key: Any, compute: Callable[[], T]) -> T:
    """``compute()``, once per GET request while nothing is written (any other session:
    every time)."""
    memo = memo_of(session)
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    found: T = memo[key]
    return found


def raw(session: Session, ruta_id: int, name: str) -> list[dict[str, Any]] | None:
    """The prefetched JSON rows of query ``name``, or None if not prefetched."""
    entry = _entry(session, ruta_id)
    if entry is None or name not in entry["raw"]:
        return None
    rows: list[dict[str, Any]] = entry["raw"][name]
    return rows


def rows_of(session: Session, model: type[T], ruta_id: int) -> list[T]:
    """The Ruta's rows of ``model`` in primary-key order: the page's prefetch, or read now."""
    entry = _entry(session, ruta_id)
    name = model.__tablename__  # type: ignore[attr-defined]
    if entry is not None and name in entry["raw"]:
        objects = entry["objects"]
        if name not in objects:  # held here: the identity map only keeps weak references
            objects[name] = json_rows.hydrate(session, model, entry["raw"][name])
        found: list[T] = objects[name]
        return list(found)
    order = inspect(model).primary_key
    return list(session.scalars(select(model).where(model.ruta_id == ruta_id)  # type: ignore[attr-defined]
                                .order_by(*order)))
