"""The transactional outbox: e-mail is data, written with the event and delivered by a job.

Queueing. ``enqueue`` renders ``templates/email/<kind>.subject.txt``, ``<kind>.txt`` and
``<kind>.html`` at once and inserts one ``OutboxMessage`` in the caller's transaction, so a
rolled-back event sends nothing, and the same ``dedupe_key`` twice queues one message. It
never commits and never talks to a mail server: nothing sends mail from inside a request.
Links in messages are absolute: build them with ``absolute_url(session, "/rutas/7")``.

Personal links. A link that signs someone in (an invitation, a password reset) is never
rendered into the stored bodies: the template gets ``SECRET_LINK_PLACEHOLDER``, which is
what «Correo saliente» shows, and the link itself goes to the row's ``secret_link``, a
column no page reads. Delivery puts it back while building the message (``reveal``) and
empties the column in the same UPDATE that marks the row sent; a row that failed or is
«incierto» keeps it, so a retry still carries a working link (the token's own expiry and
single use still apply). After delivery the database holds no usable token at all.

Delivery (claiming rows, sending them, retries, the life of a message) is
``workflow.correo.delivery``'s, run by a job; this module knows nothing of it.

This module imports nothing from Flask.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    nodes,
    select_autoescape,
)
from markupsafe import escape
from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, Table, TypeDecorator
from sqlalchemy.orm import Session

from workflow.dates import fecha
from workflow.models import OutboxMessage, OutboxStatus, utcnow
from workflow.plain_rows import driver_for_writes

__all__ = [
    "BASE_URL_INFO_KEY",
    "SECRET_LINK_PLACEHOLDER",
    "Email",
    "RenderedEmail",
    "absolute_url",
    "enqueue_many",
    "enqueue",
    "insert_new",
    "render",
    "reveal",
]

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "email"
# ``Session.info`` key holding RUTA_BASE_URL; the app sets it on every session it makes.
BASE_URL_INFO_KEY = "ruta_base_url"
MAX_SUBJECT_LENGTH = 300
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
ADDRESS_PATTERN = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")
# What the stored bodies hold where a personal link goes (see the module's docstring).
SECRET_LINK_PLACEHOLDER = "«enlace personal (oculto)»"  # noqa: S105 (no secret)


# --- rendering ----------------------------------------------------------------------------


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        # Only the .html half is escaped; the subject and the .txt half are plain text.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False,
                                     default=False),
        # A misspelt variable must fail loudly, not send an e-mail with a hole in it.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Templates ship with the code: checking their files on every render (three per
        # message) cost the daily pass a stat call per template.
        auto_reload=False,
    )
    environment.filters["fecha"] = fecha
    # The shared macros are globals, not a ``{% from %}`` in each template: an import runs on
    # every render (a template lookup and a new module object).
    macros: Any = environment.get_template("_macros.html").module
    environment.globals.update(action_link=macros.action_link,
                               observations_block=macros.observations_block)
    return environment


EMAIL_TEMPLATES = _environment()


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@cache
def _templates(kind: str) -> tuple[Template, Template, Template]:
    # Looked up once per kind: Jinja's own cache still costs a lock and a dict per lookup,
    # three times a message. Templates ship with the code (auto_reload is off anyway).
    if not KIND_PATTERN.match(kind):
        raise ValueError(f"not an e-mail kind: {kind!r}")
    return (EMAIL_TEMPLATES.get_template(f"{kind}.subject.txt"),
            EMAIL_TEMPLATES.get_template(f"{kind}.txt"),
            EMAIL_TEMPLATES.get_template(f"{kind}.html"))


def _one_line(subject: str) -> str:
    subject = " ".join(subject.split())
    if len(subject) > MAX_SUBJECT_LENGTH:
        subject = subject[:MAX_SUBJECT_LENGTH - 1].rstrip() + "…"
    return subject


def render(kind: str, context: Mapping[str, Any]) -> RenderedEmail:
    """Render the template trio of ``kind``. The subject is folded into one line."""
    if not KIND_PATTERN.match(kind):
        raise ValueError(f"not an e-mail kind: {kind!r}")
    subject_template, text_template, html_template = _templates(kind)
    return RenderedEmail(subject=_one_line(subject_template.render(context)),
                         text=text_template.render(context),
                         html=html_template.render(context))


# --- rendering many messages: fill-ins ----------------------------------------------------
#
# The reminders of one pass differ mostly in a few strings each template only prints (the
# school, its rector, the link): rendered 9,129 times over, the three templates cost a
# second of the daily pass at 10,000 schools. A batch (``enqueue_many``) renders each kind
# once per distinct rest of the context, with a marker in place of each such string, and
# puts each message's own strings where the markers are (escaped in the .html half, as
# autoescape would). Which names qualify is read from the templates' syntax trees, so a
# template that starts testing or filtering a name simply stops qualifying it.

_MARK, _END = "\ue000", "\ue001"  # private-use characters: no escaping or folding alters them
_MARKER = re.compile(f"{_MARK}(\\d+){_END}")


class _Usage:
    """How the names of some templates are used: only printed bare (``{{ name }}``, or as a
    macro's argument the macro only prints), only tested for truth (``{% if name %}``), or
    otherwise (filters, comparisons, attributes, loops, assignments)."""

    def __init__(self) -> None:
        self.printed: set[str] = set()
        self.tested: set[str] = set()
        self.other: set[str] = set()

    def visit(self, node: nodes.Node, *, html: bool) -> None:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.Name) and child.ctx == "load":
                    self.printed.add(child.name)
                else:
                    self.visit(child, html=html)
            return
        if isinstance(node, nodes.If) and isinstance(node.test, nodes.Name):
            self.tested.add(node.test.name)
            for child in [*node.body, *node.elif_, *node.else_]:
                self.visit(child, html=html)
            return
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) \
                and node.node.name in _MACROS:
            plain = _plain_macro_arguments(node.node.name) if html else ()
            for position, argument in enumerate(node.args):
                if isinstance(argument, nodes.Name) and position in plain:
                    self.printed.add(argument.name)
                else:
                    self.visit(argument, html=html)
            for child in [*node.kwargs, node.dyn_args, node.dyn_kwargs]:
                if child is not None:
                    self.visit(child, html=html)
            return
        if isinstance(node, (nodes.ScopedEvalContextModifier, nodes.EvalContextModifier,
                             nodes.FilterBlock, nodes.CallBlock, nodes.Include,
                             nodes.Import, nodes.FromImport)):
            raise _Unsupported
        if isinstance(node, nodes.Name):
            self.other.add(node.name)
        for child in node.iter_child_nodes():
            self.visit(child, html=html)

    def fill_ins(self) -> set[str]:
        return (self.printed | self.tested) - self.other


class _Unsupported(Exception):
    """A construct the fill-ins do not reason about: the kind is rendered whole."""


_MACROS = ("action_link", "observations_block")


def _tree(name: str) -> nodes.Template:
    source, _, _ = EMAIL_TEMPLATES.loader.get_source(EMAIL_TEMPLATES, name)  # type: ignore[union-attr]
    return EMAIL_TEMPLATES.parse(source, name)


@cache
def _plain_macro_arguments(macro: str) -> frozenset[int]:
    """Positions of the arguments ``macro`` (of ``_macros.html``) only prints bare."""
    [definition] = [node for node in _tree("_macros.html").find_all(nodes.Macro)
                    if node.name == macro]
    usage = _Usage()
    for child in definition.body:
        usage.visit(child, html=True)
    printed = usage.printed - usage.other - usage.tested
    return frozenset(position for position, argument in enumerate(definition.args)
                     if argument.name in printed)


@cache
def _fill_ins(kind: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """The context names every template of ``kind`` (and the layouts they extend) only prints
    or tests for truth (none when a template does something the analysis does not follow),
    and every name they use at all: the others cannot change what they render."""
    usage = _Usage()
    pending = [f"{kind}.subject.txt", f"{kind}.txt", f"{kind}.html"]
    seen: set[str] = set()
    try:
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            tree = _tree(name)
            for extends in tree.find_all(nodes.Extends):
                if not isinstance(extends.template, nodes.Const):
                    raise _Unsupported
                pending.append(extends.template.value)
            for child in tree.body:
                usage.visit(child, html=name.endswith(".html"))
    except _Unsupported:
        return (), frozenset()
    return tuple(sorted(usage.fill_ins())), frozenset(usage.printed | usage.tested
                                                      | usage.other)


def _escaped(value: str) -> str:
    """``str(markupsafe.escape(value))`` for a plain ``str`` (what autoescape prints), without
    building a ``Markup`` per value."""
    return (value.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
            .replace("'", "&#39;").replace('"', "&#34;"))


class _Body:
    """A body rendered with markers: its literal parts, and which value goes between each
    two of them."""

    __slots__ = ("head", "pairs")

    def __init__(self, marked: str) -> None:
        parts = _MARKER.split(marked)
        self.head = parts[0]
        self.pairs = [(int(parts[position]), parts[position + 1])
                      for position in range(1, len(parts), 2)]

    def fill(self, values: Sequence[str]) -> str:
        return self.head + "".join([values[position] + literal
                                    for position, literal in self.pairs])


@dataclass(frozen=True)
class _Skeleton:
    """A kind rendered with a marker in place of each of ``names``."""

    names: tuple[str, ...]
    subject: _Body
    text: _Body
    html: _Body

    def fill(self, context: Mapping[str, Any]) -> RenderedEmail:
        plain = [context[name] for name in self.names]
        escaped = [_escaped(value) for value in plain]
        return RenderedEmail(subject=_one_line(self.subject.fill(plain)),
                             text=self.text.fill(plain), html=self.html.fill(escaped))


def _holds_marker(value: Any) -> bool:
    if isinstance(value, str):
        return _MARK in value or _END in value
    if isinstance(value, Mapping):
        return any(_holds_marker(item) for pair in value.items() for item in pair)
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds_marker(item) for item in value)
    return _holds_marker(str(value))


class BatchRenderer:
    """``render`` for many messages, the same bodies: a kind is rendered once per distinct
    rest of the context (see "fill-ins" above); keep one for a batch, not for a process."""

    def __init__(self) -> None:
        self._skeletons: dict[Any, _Skeleton] = {}
        # Kinds whose first skeleton did not give what ``render`` gives: rendered whole.
        self._whole: set[str] = set()

    def __call__(self, kind: str, context: Mapping[str, Any]) -> RenderedEmail:
        if kind in self._whole:
            return render(kind, context)
        fill_ins, used = _fill_ins(kind) if KIND_PATTERN.match(kind) else ((), frozenset())
        # Only non-empty strings (a marker is true, as they are) without the marker's
        # characters; any other value is part of what a skeleton is rendered for.
        names = tuple(name for name in fill_ins
                      if type(value := context.get(name)) is str and value
                      and _MARK not in value and _END not in value)
        if not names:
            return render(kind, context)
        key = (kind, names, tuple(sorted(item for item in context.items()
                                         if item[0] in used and item[0] not in names)))
        try:
            skeleton = self._skeletons.get(key)
        except TypeError:  # an unhashable value (a list): render it whole
            return render(kind, context)
        if skeleton is None:
            # A marker's characters in a value rendered into the skeleton itself would be
            # taken for a marker: such a context is rendered whole (checked once per key).
            if any(_holds_marker(value) for _, value in key[2]):
                return render(kind, context)
            marked = render(kind, {**context, **{name: f"{_MARK}{position}{_END}"
                                                  for position, name in enumerate(names)}})
            skeleton = _Skeleton(names, _Body(marked.subject), _Body(marked.text),
                                 _Body(marked.html))
            # Each new skeleton is checked once against a whole rendering of the message it
            # was made for: a template construct the analysis misreads costs that kind its
            # shortcut for the batch, never a wrong body.
            whole = render(kind, context)
            if skeleton.fill(context) != whole:
                log.warning("Los correos «%s» se escriben uno por uno: su plantilla no admite "
                            "el relleno por lotes.", kind)
                self._whole.add(kind)
                return whole
            self._skeletons[key] = skeleton
        return skeleton.fill(context)


def reveal(body: str, secret_link: str | None, *, html: bool) -> str:
    """``body`` with the personal link in place of ``SECRET_LINK_PLACEHOLDER`` (delivery
    only: what is stored keeps the placeholder)."""
    if not secret_link:
        return body
    return body.replace(SECRET_LINK_PLACEHOLDER, str(escape(secret_link)) if html
                        else secret_link)


def absolute_url(session: Session, path: str) -> str:
    """``path`` on the public address of the service (config RUTA_BASE_URL)."""
    base = session.info.get(BASE_URL_INFO_KEY)
    if not base:
        raise RuntimeError(
            f"session.info[{BASE_URL_INFO_KEY!r}] is not set: sessions must come from the "
            "app (ruta.mail.init_app sets RUTA_BASE_URL on them)")
    return str(base).rstrip("/") + "/" + path.lstrip("/")


# --- queueing -----------------------------------------------------------------------------


def _addresses(addresses: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for address in addresses:
        address = address.strip().lower()
        if not ADDRESS_PATTERN.match(address):
            raise ValueError(f"not an e-mail address: {address!r}")
        if address not in cleaned:
            cleaned.append(address)
    return cleaned


@dataclass(frozen=True)
class Email:
    """One message to queue: what ``enqueue`` takes, as a value (see ``enqueue_many``)."""

    kind: str
    to: Sequence[str] | str
    context: Mapping[str, Any]
    dedupe_key: str
    secretaria_id: int
    ruta_id: int | None = None
    cc: Sequence[str] = ()
    # A link that signs someone in; ``context`` names it ``SECRET_LINK_PLACEHOLDER``.
    secret_link: str | None = None


def _row(email: Email, moment: datetime,
         renderer: Callable[[str, Mapping[str, Any]], RenderedEmail] = render
         ) -> dict[str, Any]:
    recipients = _addresses([email.to] if isinstance(email.to, str) else email.to)
    if not recipients:
        raise ValueError("an e-mail needs at least one recipient")
    copies = [address for address in _addresses(email.cc) if address not in recipients]
    if not email.dedupe_key or len(email.dedupe_key) > 200:
        raise ValueError(f"a dedupe key has 1 to 200 characters: {email.dedupe_key!r}")
    rendered = renderer(email.kind, email.context)
    if email.secret_link and not (SECRET_LINK_PLACEHOLDER in rendered.text
                                  and SECRET_LINK_PLACEHOLDER in rendered.html):
        raise ValueError(f"{email.kind}: a secret link needs SECRET_LINK_PLACEHOLDER in the "
                         "context, shown in both bodies")
    return {
        "secretaria_id": email.secretaria_id, "ruta_id": email.ruta_id, "kind": email.kind,
        "dedupe_key": email.dedupe_key, "recipients": recipients, "cc": copies,
        "subject": rendered.subject, "text_body": rendered.text, "html_body": rendered.html,
        "status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": moment,
        "claimed_at": None, "claim_token": None, "last_error": None,
        "refused_recipients": {}, "created_at": moment, "sent_at": None,
        "secret_link": email.secret_link or None,
    }


def _pg_array_type(column_type: Any) -> tuple[str, str]:
    """(array element type, cast back to the column) for a column fed from unnest()."""
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, JSON):
        return "text", "json"
    if isinstance(column_type, Boolean):
        return "boolean", ""
    if isinstance(column_type, Integer):
        return "bigint", ""
    if isinstance(column_type, DateTime):
        return ("timestamptz" if column_type.timezone else "timestamp"), ""
    if isinstance(column_type, Date):
        return "date", ""
    return "text", ""  # String, Text and non-native enums (varchar + CHECK)


def _pg_array(column: Any, values: list[Any], dialect: Any) -> list[Any]:
    """``values`` as SQLAlchemy would bind them to ``column`` (a TypeDecorator's conversion,
    an enum's stored value); JSON as its text, cast back by the statement."""
    if isinstance(column.type, JSON):
        # An empty list or object without json.dumps: the copies of most new messages and
        # the refused recipients of every one (18,000 calls a daily pass).
        return [None if value is None else "[]" if value == [] else "{}" if value == {}
                else json.dumps(value) for value in values]
    processor = column.type.bind_processor(dialect)
    return values if processor is None else [processor(value) for value in values]


def insert_new(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *,
               conflict: Sequence[str], returning: Sequence[str]) -> list[tuple[Any, ...]]:
    """``INSERT rows ON CONFLICT (conflict) DO NOTHING RETURNING returning``: the new rows.

    The unique constraint on ``conflict`` decides what is new, in the caller's transaction
    (rows another transaction is inserting wait for it, as any INSERT does). Every row has
    the same keys; returned values are the driver's, unconverted. Runs on the driver's own
    connection, inside the session's transaction (flushed first, as ``session.execute``
    would). PostgreSQL: one statement, each column one array parameter sent in binary and
    turned back into rows by ``unnest`` (a multi-row VALUES list of 10,000 rows cost psycopg
    2 s just to parse its placeholders, and the text arrays as much to quote). SQLite, in
    process: one prepared INSERT per row through sqlite3's statement cache, a fraction of
    what SQLAlchemy's multi-row INSERTs cost to bind and re-process in Python.
    """
    if not rows:
        return []
    if session.autoflush:  # the rows may refer to pending ones
        session.flush()
    return _Inserter(session, table, conflict=conflict, returning=returning)(rows)


class _Inserter:
    """``insert_new`` for one table, callable from another thread while the session's own
    thread does no database work (``enqueue_many`` renders the next rows meanwhile)."""

    def __init__(self, session: Session, table: Table, *, conflict: Sequence[str],
                 returning: Sequence[str]) -> None:
        self.table = table
        self.dialect = session.get_bind().dialect
        if self.dialect.name not in ("sqlite", "postgresql"):  # pragma: no cover
            raise NotImplementedError(f"no idempotent insert for {self.dialect.name}")
        self.connection: Any = driver_for_writes(session)
        # Every name is checked against the table (KeyError otherwise) before it is written
        # into a statement; the values are always bound parameters.
        for name in [*conflict, *returning]:
            table.c[name]  # noqa: B018
        self.tail = (f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING "
                     f"RETURNING {', '.join(returning)}")

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        if not rows:
            return []
        table, dialect = self.table, self.dialect
        names = list(rows[0])
        columns = [table.c[name] for name in names]
        quoted = ", ".join(f'"{column.name}"' for column in columns)
        head = f'INSERT INTO "{table.name}" ({quoted})'  # noqa: S608 (checked names)
        if dialect.name == "sqlite":
            values = [[row[name] for row in rows] for name in names]
            for position, column in enumerate(columns):
                processor = column.type._cached_bind_processor(dialect)
                if processor is not None:
                    values[position] = [processor(value) for value in values[position]]
            statement = f"{head} VALUES ({', '.join('?' for _ in names)}) {self.tail}"
            cursor = self.connection.cursor()
            try:
                new: list[tuple[Any, ...]] = []
                for parameters in zip(*values, strict=True):
                    new.extend(cursor.execute(statement, parameters).fetchall())
                return new
            finally:
                cursor.close()
        parameters: dict[str, list[Any]] = {}
        arrays, selected = [], []
        for position, column in enumerate(columns):
            element, cast = _pg_array_type(column.type)
            parameters[f"p{position}"] = _pg_array(column, [row[column.name] for row in rows],
                                                   dialect)
            # %(name)b: sent in binary, so neither side quotes or parses 10,000 strings.
            arrays.append(f"CAST(%(p{position})b AS {element}[])")
            selected.append(f"CAST(c{position} AS {cast})" if cast else f"c{position}")
        aliases = ", ".join(f"c{position}" for position in range(len(names)))
        source = f"unnest({', '.join(arrays)}) AS new_rows({aliases})"
        statement = f"{head} SELECT {', '.join(selected)} FROM {source} {self.tail}"  # noqa: S608
        with self.connection.cursor() as cursor:
            cursor.execute(statement, parameters)
            return [tuple(row) for row in cursor.fetchall()]


# Rows rendered and inserted per round: rendering the next chunk overlaps inserting this one.
ENQUEUE_CHUNK = 1000


def enqueue_many(session: Session, emails: Sequence[Email], *,
                 now: datetime | None = None) -> set[str]:
    """Queue ``emails`` in the caller's transaction (see ``insert_new``).

    Returns the dedupe keys that were queued; a key that already had a message (or repeats
    within ``emails``) queues nothing more. Same guarantees as ``enqueue``, which it backs.

    Rendering is the Python half of the work and the INSERT the database's: beyond one
    chunk, the INSERTs run in a helper thread, one after the other on the session's
    connection, while this thread renders the next chunk (sqlite3 and psycopg let go of
    the interpreter lock while the database works). This thread does no database work
    meanwhile and waits for every INSERT before returning or raising.
    """
    moment = now or utcnow()
    unique = list({email.dedupe_key: email for email in emails}.values())
    if not unique:
        return set()
    if session.autoflush:  # the rows may refer to pending ones
        session.flush()
    insert = _Inserter(session, OutboxMessage.__table__,  # type: ignore[arg-type]
                       conflict=["dedupe_key"], returning=["dedupe_key"])
    chunks = [unique[start:start + ENQUEUE_CHUNK]
              for start in range(0, len(unique), ENQUEUE_CHUNK)]
    # One message is rendered whole: the fill-ins pay off only over many of a kind (and a
    # reset asked for an unknown address must cost what one for a known address costs).
    renderer: Callable[[str, Mapping[str, Any]], RenderedEmail] = (
        BatchRenderer() if len(unique) > 1 else render)
    if len(chunks) == 1:
        return {key for key, in insert([_row(email, moment, renderer) for email in chunks[0]])}
    futures = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-insert") as pool:
        try:
            for chunk in chunks:
                futures.append(pool.submit(insert, [_row(email, moment, renderer)
                                                    for email in chunk]))
        finally:
            pool.shutdown(wait=True)
    # RETURNING, not rowcount: psycopg 3 reports -1 for some statements.
    return {key for future in futures for key, in future.result()}


def enqueue(session: Session, *, kind: str, to: Sequence[str] | str,
            context: Mapping[str, Any], dedupe_key: str, secretaria_id: int,
            ruta_id: int | None = None, cc: Sequence[str] = (),
            secret_link: str | None = None, now: datetime | None = None) -> bool:
    """Queue one e-mail in the caller's transaction. True if queued, False if a message
    with ``dedupe_key`` already exists (then nothing changes).

    ``kind`` names the templates ``templates/email/<kind>.subject.txt``, ``.txt`` and
    ``.html``, rendered now with ``context`` (plain values: the templates cannot query).
    ``to`` and ``cc`` are bare addresses. ``secretaria_id`` decides whose administrators see
    the message on "Correo saliente". Choose a ``dedupe_key`` that names the cause and the
    audience, e.g. ``f"transition:{entry.id}:rector"`` or
    ``f"reminder:{ruta.id}:{kind}:{checkpoint}"``: the same cause never mails twice.
    ``now`` (default: the current time) is when the message becomes due. ``secret_link``: a
    link that signs someone in, kept out of the stored bodies (the module's docstring).

    Flushes nothing of the caller's and never commits.
    """
    email = Email(kind=kind, to=to, context=context, dedupe_key=dedupe_key,
                  secretaria_id=secretaria_id, ruta_id=ruta_id, cc=cc, secret_link=secret_link)
    return bool(enqueue_many(session, [email], now=now))
