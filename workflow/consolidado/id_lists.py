"""``column IN (ids)`` for the batches of Rutas the consolidado's exports read.

SQLAlchemy renders ``in_`` with one bound parameter per id, cast one by one on PostgreSQL:
for 500 ids each statement is compiled and parsed afresh (too long for psycopg's statement
cache), about a fifth of a sheet's time at 10,000 schools. On PostgreSQL the ids go as one
array parameter (``= ANY(:ids)``): one short statement, compiled once and cached. Other
databases (SQLite) keep ``IN``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def among(session: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column`` is one of ``ids``."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(ids)
