"""Counting the SQL statements one request sends (issue 17: a guard, not a timing)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import event


@dataclass
class Statements:
    """The statements sent while counting, in order (kept to explain a failure)."""

    sent: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.sent)


@contextmanager
def counting_statements(app: Flask) -> Iterator[Statements]:
    """Every statement the app's engine sends inside the block (``before_cursor_execute``:
    one per round trip, whatever issued it)."""
    engine = app.extensions["ruta_db"].engine
    statements = Statements()

    def record(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.sent.append(" ".join(statement.split())[:200])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
