"""The Ruta page's body, drawn once per version of what it shows and kept in each process.

The Ruta page is the page of a school's Ruta everyone opens most, and drawing it is costly:
its three stages read and check the whole autoevaluación, PMI and seguimiento (30 ms and ten
statements at 10,000 schools, against 3 ms for the layout alone). Its body is a function of:

- the Ruta's rows and the rows below them: ``rutas.page_stamp``, and how many reminders it
  has been sent (``reminders_sent``, counted: see below);
- its Secretaría's schools, people, calendars and rules: ``secretarias.page_stamp``;
- the catalog the Ruta is pinned to, which never changes once stored;
- the day in Bogotá (windows that close, checkpoints that fall due);
- who looks at it (role, school, Secretaría, whether active) and where the app is mounted.

Both stamps are moved by the database itself, by triggers on every table whose rows the page
draws (migration 0038), so a bulk statement, the scheduler or the command line move them as a
service does. ``tests/web/test_ruta_page_cache.py`` proves the list complete: every table the
uncached page reads is stamped, or is the catalog, or is the session.

A new reminder does not move the Ruta's stamp; the key counts the Ruta's reminders instead
(migration 0041). The daily pass records some 9,000 reminders at once, and moving their Rutas'
stamps rewrote 9,000 rows of ``rutas`` with their eight indexes: 0.45 s of a 4.4 s pass at
10,000 schools. Rows of ``reminders_sent`` are only ever added by the pass (an update or a
delete still moves the stamp), so their count moves with every one added, whichever
transaction commits first (the largest id would not: ids are handed out before the commit).

The body is kept without its form tokens: the CSRF token is the session's and each
``form_token`` must be new for each page drawn (it is what makes a second post of the same
form harmless), so both are put back, fresh, every time the body is served (``Body``).

The stamps are read in the statement that finds the Ruta in the viewer's scope, before
anything the body shows: a body drawn while someone's change commits is at least as new as
its key says, never older.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy import Select, bindparam, column, func, select, table
from sqlalchemy.orm import Session, joinedload

from workflow.dates import BOGOTA
from workflow.errors import NotFound
from workflow.memo import Memo
from workflow.models import Ruta, RutaTransition, School, Secretaria, User, utcnow
from workflow.plain_rows import plain_rows
from workflow.scoping import not_found_message, scoped_with_parameters

# Each entry is one Ruta's body for one viewer (10 to 40 KB): a worker keeps at most this many.
RUTA_BODIES: Memo[Body] = Memo(1024)

# A form's token field as ``macros.csrf`` and ``macros.form_token`` write it. What a person
# typed cannot match it: autoescape writes their quotes as ``&#34;``.
_TOKEN_FIELD = re.compile(r'name="(csrf_token|form_token)" value="[^"]*"')


# The reminders of a Ruta, counted for its key (above); named, not imported: the core does not
# import the stages (``workflow.horizontes.models.ReminderSent``).
_REMINDERS = table("reminders_sent", column("ruta_id"))


@dataclass(frozen=True)
class Stamps:
    ruta: int
    secretaria: int
    reminders: int = 0


@dataclass(frozen=True)
class Body:
    """A rendered body cut at its token fields: ``parts`` alternates text and field names."""

    parts: tuple[str, ...]

    @classmethod
    def of(cls, html: str) -> Body:
        return cls(tuple(_TOKEN_FIELD.split(html)))

    def filled(self, *, csrf_token: str, new_form_token: Callable[[], str]) -> Markup:
        out = [self.parts[0]]
        for index in range(1, len(self.parts), 2):
            name = self.parts[index]
            value = csrf_token if name == "csrf_token" else new_form_token()
            out.append(f'name="{name}" value="{value}"')
            out.append(self.parts[index + 1])
        return Markup("".join(out))  # noqa: S704 (drawn by autoescaped templates)


@dataclass(frozen=True)
class Heading:
    """What the page shows of the Ruta around its body (the title), read with the stamps."""

    ruta_id: int
    school_name: str
    horizon_label: str


def _heading_and_stamps(in_scope: Select[Any]) -> Select[Any]:
    reminders = (select(func.count()).select_from(_REMINDERS)
                 .where(_REMINDERS.c.ruta_id == Ruta.id).scalar_subquery())
    return (in_scope.with_only_columns(Ruta.id, School.name, Ruta.horizon_start_year,
                                       Ruta.horizon_end_year, Ruta.page_stamp,
                                       Secretaria.page_stamp, reminders)
            .join(Secretaria, Secretaria.id == School.secretaria_id)
            .where(Ruta.id == bindparam("ruta_id")))


def heading_in_scope(session: Session, actor: User, ruta_id: int) -> tuple[Heading, Stamps]:
    """The Ruta's heading and stamps if ``actor`` may see it (``NotFound`` otherwise), in the
    statement that checks the scope (``scoping.scoped``), as plain values: a kept body needs
    no Ruta object, and building one (with its school, catalog and rules) was a fifth of the
    page's time. A body that must be drawn loads the Ruta itself (``load_ruta``)."""
    statement, parameters = scoped_with_parameters(actor, Ruta, _heading_and_stamps)
    found = plain_rows(session, statement, {**parameters, "ruta_id": ruta_id}).one_or_none()
    if found is None:
        raise NotFound(not_found_message(Ruta))
    found_id, school_name, start, end, ruta_stamp, secretaria_stamp, reminder_count = found
    return (Heading(found_id, school_name, f"{start}–{end}"),
            Stamps(ruta_stamp, secretaria_stamp, reminder_count))


def load_ruta(session: Session, ruta_id: int, *options: Any) -> Ruta:
    """The Ruta whose heading ``heading_in_scope`` found (so in scope), with ``options`` and
    its history (each transition with who fired it), in one statement."""
    return session.scalars(
        select(Ruta).options(*options, joinedload(Ruta.transitions)
                             .joinedload(RutaTransition.actor))
        .where(Ruta.id == ruta_id)).unique().one()


def body_key(ruta_id: int, stamps: Stamps, viewer: User, *, mounted_at: str) -> Hashable:
    """Everything the body is drawn from, as described above."""
    return (ruta_id, stamps.ruta, stamps.secretaria, stamps.reminders,
            utcnow().astimezone(BOGOTA).date(), viewer.id, viewer.role, viewer.school_id,
            viewer.secretaria_id, viewer.active, mounted_at)
