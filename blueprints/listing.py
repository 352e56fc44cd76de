"""What every list page shares: a sort chosen from ``?orden=`` and ``?dir=``, numbered pages
from ``?pagina=``, and a search text of bounded length.

A value that is not a known column, a direction or a number falls back to the default: the page
answers, never a 500, and never shows more than the scope allows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app, request
from sqlalchemy import ColumnElement, Select, func
from sqlalchemy.orm import Session

from blueprints.access import form_int

#: Longer searches are cut to this many characters (and the page says so).
MAX_SEARCH = 100
DIRECTIONS = {"asc": False, "desc": True}


@dataclass(frozen=True)
class Sort:
    key: str
    descending: bool
    # Chosen in the address (kept in the page's links) rather than the list's default.
    explicit: bool = False

    def as_query(self) -> dict[str, str]:
        """The parameters that keep this sort in a link; none for the default."""
        if not self.explicit:
            return {}
        return {"orden": self.key, "dir": "desc" if self.descending else "asc"}


@dataclass(frozen=True)
class Inverted:
    """A column that sorts the other way round: «días en el estado» grows as the moment the
    state began goes back."""
    column: Any


def search_text(name: str = "q") -> tuple[str, bool]:
    """The search typed in ``?name=``, trimmed and cut to ``MAX_SEARCH``; and whether it was cut."""
    raw = request.args.get(name, "").strip()
    return raw[:MAX_SEARCH].strip(), len(raw) > MAX_SEARCH


def chosen_sort(options: Mapping[str, Sequence[Any]], default: Sort) -> Sort:
    """The sort the address asks for; an unknown column or direction gives the default."""
    key = request.args.get("orden", "")
    if key not in options:
        return default
    direction = request.args.get("dir", "")
    descending = DIRECTIONS.get(direction, default.descending if key == default.key else False)
    return Sort(key, descending, explicit=True)


def ordering(sort: Sort, options: Mapping[str, Sequence[Any]],
             tiebreak: ColumnElement[Any] | Any) -> list[Any]:
    """ORDER BY clauses for ``sort``: its columns in its direction (empty values last on both
    databases), then ``tiebreak`` so pages never overlap."""
    clauses = []
    for column in options[sort.key]:
        descending = sort.descending
        if isinstance(column, Inverted):
            column, descending = column.column, not descending
        clause = column.desc() if descending else column.asc()
        clauses.append(clause.nulls_last())
    return [*clauses, tiebreak]


def paginate(database: Session, statement: Select[Any], id_column: Any,
             scalars: bool = True, total: int | None = None) -> tuple[list[Any], int, int, int]:
    """One page of ``statement`` (already ordered): rows, page, pages, total. A page past the
    last shows the last; one that is not a number shows the first. ``total``: how many rows
    ``statement`` has, when the caller has counted them already."""
    page_size = current_app.config["QUEUE_PAGE_SIZE"]
    if total is None:
        total = database.scalar(
            statement.with_only_columns(func.count(id_column)).order_by(None)) or 0
    pages = max((total + page_size - 1) // page_size, 1)
    page = min(max(form_int(request.args.get("pagina")) or 1, 1), pages)
    paged = statement.limit(page_size).offset((page - 1) * page_size)
    rows = list(database.scalars(paged) if scalars else database.execute(paged))
    return rows, page, pages, total
