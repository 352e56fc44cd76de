"""Column-only SELECTs read straight from the session's connection.

``session.execute`` sends a SELECT of ORM attributes through the ORM's loading, row by row,
even when it asks only for columns. The consolidado's exports read over a million such rows
at 10,000 schools, and that loading was 1.3 s of the 20-second Excel. ``plain_rows`` sends the
same statement on the session's connection (the same transaction, the same column types), so
the rows come from the driver as they are: the same values, in the same ``Row`` objects.

Only for statements of columns, never of entities (it refuses them). It does not autoflush
the session first: for reads that follow no pending write of their own, as the exports'.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Result, Select
from sqlalchemy.orm import Session

# ``Connection.info`` key: the connection reads in autocommit for now (``ruta.pg_round_trips``
# sets it on a GET request's connection; the first write clears it and starts a transaction).
AUTOCOMMITTED_READS = "ruta_autocommitted_reads"


def plain_rows(session: Session, statement: Select[Any],
               parameters: dict[str, Any] | None = None) -> Result[Any]:
    """The rows of ``statement`` (columns only, with ``parameters`` for its bound names),
    without the ORM's loading."""
    for column in statement.column_descriptions:
        entity = column.get("entity")
        if entity is not None and column.get("expr") is entity:
            raise TypeError(f"plain_rows reads columns, not entities ({entity.__name__})")
    return session.connection().execute(statement, parameters)


def driver_for_writes(session: Session) -> Any:
    """The driver's connection under ``session``, in the session's transaction, for writes
    sent straight to it (which no SQLAlchemy event sees): a connection that was reading in
    autocommit (``ruta.pg_round_trips``) starts its transaction first."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    if connection.info.get(AUTOCOMMITTED_READS):
        connection.info[AUTOCOMMITTED_READS] = False
        driver.autocommit = False  # type: ignore[union-attr]
    return driver
