"""What templates need: Spanish (Colombia) dates, labels of states and roles."""

from __future__ import annotations

import threading

from flask import Flask
from jinja2 import BytecodeCache, Environment
from jinja2.bccache import Bucket

from ruta.db import db_session
from workflow.dates import fecha
from workflow.form_tokens import new_token
from workflow.roles import ROLE_LABELS, Role
from workflow.situation import Situation, situation_of
from workflow.states import STATE_EXPLANATIONS, STATE_LABELS, STATE_ORDER, State, Trigger


class SharedBytecode(BytecodeCache):
    """Compiled templates shared by every app this process builds.

    Each app has its own Jinja environment, which compiles every template again on first use
    (tens of milliseconds each). A process holds one app in production but one per test in the
    suite, so without this every test paid for compiling the templates it renders. Jinja checks
    the source's checksum on every load, so an edited template is compiled anew; the key also
    names the options that change the compiled code, so apps built differently never share.
    """

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get_bucket(self, environment: Environment, name: str, filename: str | None,
                   source: str) -> Bucket:
        options = (environment.trim_blocks, environment.lstrip_blocks, environment.autoescape,
                   environment.block_start_string, environment.variable_start_string,
                   environment.newline_sequence, environment.keep_trailing_newline,
                   tuple(sorted(environment.extensions)))
        key = self.get_cache_key(f"{name}|{options!r}", filename)
        bucket = Bucket(environment, key, self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            self._store[bucket.key] = bucket.bytecode_to_string()


SHARED_BYTECODE = SharedBytecode()


def configure_jinja(app: Flask) -> None:
    """Options of the app's Jinja environment: set before anything creates it."""
    app.jinja_options = {**app.jinja_options, "trim_blocks": True, "lstrip_blocks": True,
                         "bytecode_cache": SHARED_BYTECODE}


def init_app(app: Flask) -> None:
    app.jinja_env.filters["fecha"] = fecha
    app.jinja_env.globals.update(
        State=State, Trigger=Trigger, Role=Role, STATE_ORDER=STATE_ORDER,
        STATE_LABELS=STATE_LABELS, STATE_EXPLANATIONS=STATE_EXPLANATIONS,
        ROLE_LABELS=ROLE_LABELS, new_form_token=new_token, ruta_situation=_situation,
        page_numbers=page_numbers,
    )


def page_numbers(page: int, pages: int) -> list[int | None]:
    """The page links a paginated list shows (``macros.pagination``): the first, the last and
    two either side of ``page``, in order, with None where numbers are left out («…»). The
    macro went through every number (500 of them for the queue at 10,000 schools)."""
    shown = sorted({1, pages, *range(max(page - 2, 1), min(page + 2, pages) + 1)})
    numbers: list[int | None] = []
    previous = 0
    for number in shown:
        if number > previous + 1:
            numbers.append(None)
        numbers.append(number)
        previous = number
    return numbers


def _situation(ruta: object) -> Situation:
    """The Ruta's state in words, «PMI devuelto con observaciones» included."""
    return situation_of(db_session(), ruta)  # type: ignore[arg-type]
