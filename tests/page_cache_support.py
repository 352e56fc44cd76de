"""What the tests of the kept pages share (the Ruta page's body under its stamps, /reportes/'s
under its token): the migration that installs the triggers, read as a module; the tables that
carry a trigger, as the database itself says; the tables a page reads, as the engine sends
them. (The demo Secretaría they draw comes from ``tests.demo_copy``.)"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from workflow.models import Base

T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"


def migration(file_name: str) -> Any:
    """``migrations/versions/<file_name>`` as a module (its tables and trigger lists)."""
    spec = importlib.util.spec_from_file_location(file_name.removesuffix(".py"),
                                                  MIGRATIONS / file_name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tables_with_triggers(db: Session, name_pattern: str) -> set[str]:
    """The tables carrying a trigger whose name is LIKE ``name_pattern``."""
    if db.get_bind().dialect.name == "postgresql":
        query = ("SELECT DISTINCT event_object_table FROM information_schema.triggers "
                 "WHERE trigger_name LIKE :pattern")
    else:
        query = ("SELECT DISTINCT tbl_name FROM sqlite_master "
                 "WHERE type = 'trigger' AND name LIKE :pattern")
    return set(db.scalars(text(query), {"pattern": name_pattern}))


_NAMED_TABLE = re.compile(r'\b(?:FROM|JOIN)\s+"?(\w+)')


class TablesRead:
    """The tables named after FROM or JOIN in what an engine sends while ``listening``, and
    only while ``recording`` (``only_while`` narrows it to one function's statements)."""

    def __init__(self) -> None:
        self.names = set(Base.metadata.tables)
        self.read: set[str] = set()
        self.recording = True

    def _record(self, _connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.recording:
            self.read.update(name for name in _NAMED_TABLE.findall(statement)
                             if name in self.names)

    @contextmanager
    def listening(self, engine: Engine) -> Iterator[None]:
        event.listen(engine, "before_cursor_execute", self._record)
        try:
            yield
        finally:
            event.remove(engine, "before_cursor_execute", self._record)

    def only_while(self, function: Callable[..., T]) -> Callable[..., T]:
        """``function``, recording what it sends and nothing else from now on."""
        self.recording = False

        def recorded(*args: Any, **kwargs: Any) -> T:
            self.recording = True
            try:
                return function(*args, **kwargs)
            finally:
                self.recording = False
        return recorded
