"""How every action on a Ruta happens: ``transition``, and who may fire what.

There is one service function per user action, in the ``actions`` module of the stage that
owns the content the action judges (``workflow.autoevaluacion.actions.submit_self_assessment``,
``workflow.pmi.actions.approve``, …). Each calls ``transition`` with its guard providers, then
does what its stage adds (the PMI freezes a version, a return sends its observations).

``transition``: checks that the actor sees the Ruta (404) and may fire the trigger (403),
checks the version the actor loaded (409 when someone else moved the Ruta), computes the
guards and fires the trigger (409 from a wrong state, 422 when a guard fails), sets the
columns of the new state, appends the audit row, queues the notifications, and flushes. It
never commits: the view commits once, so the state change, its audit row and its e-mails
land together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, inspect, update
from sqlalchemy.orm import MANYTOONE, ColumnProperty, Relationship, Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from workflow import guards, notifications
from workflow.errors import Forbidden, GuardFailed, InvalidTransition, NotFound, StaleRuta
from workflow.guards import GuardProvider, TransitionInput
from workflow.models import Ruta, RutaTransition, User, utcnow
from workflow.scoping import scoped
from workflow.states import (
    SYSTEM,
    TRANSITIONS,
    TRIGGER_ACTORS,
    MachineError,
    RutaSubject,
    State,
    Trigger,
    fire,
    triggers_from,
)

# --- permission predicates (the same ones decide which buttons a page shows) -------------


def actor_kind(actor: User | None) -> str:
    return SYSTEM if actor is None else actor.role.value


def may_fire(actor: User | None, trigger: Trigger) -> bool:
    """Whether the actor's role may fire ``trigger`` at all (the table in ``states``)."""
    if actor is not None and not actor.active:
        return False
    return actor_kind(actor) in TRIGGER_ACTORS[trigger]


def available_actions(actor: User, ruta: Ruta) -> list[Trigger]:
    """The actions to offer ``actor`` now: allowed by the machine from this state and by role."""
    return [trigger for trigger in triggers_from(ruta.state) if may_fire(actor, trigger)]


def _guard_names(trigger: Trigger, state: State) -> list[str]:
    names: list[str] = []
    for row in TRANSITIONS:
        if row["trigger"] == trigger and row["source"] == state:
            for name in row.get("conditions", []):  # type: ignore[attr-defined]
                if name not in names:
                    names.append(name)
    return names


def _in_scope(session: Session, actor: User, ruta: Ruta) -> bool:
    return session.scalar(scoped(actor, Ruta).where(Ruta.id == ruta.id)) is not None


def check_attempt(session: Session, ruta: Ruta, trigger: Trigger, *, actor: User | None,
                  expected_version: int) -> None:
    """What ``transition`` checks before computing guards: scope (404), role (403), the
    version the actor loaded (409) and a trigger possible from this state (409). An action
    that validates its own input first (the rubric of a review) calls it so a stale or
    wrong-state request answers the same as without that input."""
    if actor is not None and not _in_scope(session, actor, ruta):
        raise NotFound("No encontramos esa Ruta de Mejoramiento.")
    if not may_fire(actor, trigger):
        raise Forbidden(f"Su rol no permite «{trigger.label}».")
    if ruta.version != expected_version:
        raise StaleRuta(ruta.id)
    if trigger not in triggers_from(ruta.state):
        raise InvalidTransition(
            f"No se puede «{trigger.label}» cuando la Ruta está en «{ruta.state.label}».")


def transition(session: Session, ruta: Ruta, trigger: Trigger, *, actor: User | None,
               expected_version: int, given: TransitionInput | None = None,
               guards_from: Mapping[str, GuardProvider] | None = None,
               extra: dict[str, Any] | None = None, now: datetime | None = None,
               columns: dict[str, Any] | None = None, notify: bool = True,
               flush: bool = True) -> RutaTransition:
    """Fire ``trigger`` and set ``columns`` of the new state, in one versioned UPDATE.

    ``guards_from`` maps the machine's guard names to the stage's providers (the core's own,
    such as ``returns_to_pmi``, need none). Changes: state, ``state_changed_at``, ``columns``;
    appends the audit row; queues the notifications (``workflow.notifications``), unless
    ``notify`` is False: then the caller queues them itself, in the same transaction, with
    ``notifications.transitions_happened`` (the daily pass, for many Rutas at once).

    ``flush=False`` (only with ``notify=False``) leaves the change pending: the caller writes
    it with others (``flush_transitions``) and turns a ``StaleDataError`` into its own
    answer. Only a caller holding the Ruta's row lock should: without it the version is only
    checked then.
    """
    if not flush and notify:
        raise ValueError("the notifications of a transition need its flushed audit row")
    check_attempt(session, ruta, trigger, actor=actor, expected_version=expected_version)

    given = given or TransitionInput()
    ruta_id = ruta.id  # the object is unusable after a failed flush: keep what we report
    before = ruta.state
    results = guards.evaluate(session, ruta, _guard_names(trigger, before), given,
                              guards_from or {})
    subject = RutaSubject(state=before.value,
                          facts={name: result.passed for name, result in results.items()})
    try:
        changed = fire(subject, trigger)
    except MachineError:
        raise InvalidTransition(
            f"No se puede «{trigger.label}» cuando la Ruta está en «{before.label}»."
        ) from None
    if not changed:
        reasons = list(dict.fromkeys(
            reason for result in results.values() for reason in result.reasons))
        raise GuardFailed(f"Todavía no se puede «{trigger.label}».", reasons)

    moment = now or utcnow()
    ruta.state = State(subject.state)
    ruta.state_changed_at = moment
    for column, value in (columns or {}).items():
        setattr(ruta, column, value)
    entry = RutaTransition(
        ruta=ruta, trigger=trigger.value, from_state=before, to_state=ruta.state,
        actor_id=None if actor is None else actor.id, at=moment,
        observations=given.observations.strip() or None, extra=extra or {},
    )
    session.add(entry)
    if not flush:
        return entry
    try:
        session.flush()
    except StaleDataError:
        # The UPDATE ... WHERE version = expected matched nothing: another transaction won.
        raise StaleRuta(ruta_id) from None
    if notify:
        notifications.transition_happened(session, entry)
    return entry


def flush_transitions(session: Session, entries: Sequence[RutaTransition]) -> None:
    """Write the transitions ``transition(..., flush=False)`` left pending, for a caller that
    holds their Rutas' row locks: the Rutas' new columns in one executemany UPDATE (each
    still checked against the version it was read with, and moved to the next one), then
    the audit rows in one flush (one INSERT on PostgreSQL).

    The ORM never batches the UPDATE of a versioned row: the daily pass paid a statement and
    its round trip for each of the 435 Rutas it started. Raises ``StaleDataError`` when a
    Ruta's version moved after all (SQLite ignores row locks); the caller rolls back, since
    the other Rutas' rows may be written.
    """
    rutas = list({id(entry.ruta): entry.ruta for entry in entries}.values())
    table = Ruta.__table__
    mapper = inspect(Ruta)
    version = mapper.version_id_col
    version_key = mapper.get_property_by_column(version).key
    # Rutas by the columns their transitions set (the state and its moment; some triggers
    # set more), each group one statement. A Ruta flushed already has nothing pending; one
    # whose many-to-one relationship changed (which the ORM turns into a column) is left to
    # the flush; its collections (the new audit row) write no column of its own.
    groups: dict[tuple[str, ...], list[Ruta]] = {}
    for ruta in rutas:
        pending = [mapper.attrs[key] for key in inspect(ruta).committed_state]
        if any(isinstance(prop, Relationship) and prop.direction is MANYTOONE
               for prop in pending):
            continue
        changed = tuple(sorted(prop.key for prop in pending if isinstance(prop, ColumnProperty)))
        if changed:
            groups.setdefault(changed, []).append(ruta)
    for changed, group in groups.items():
        columns = [mapper.column_attrs[key].columns[0].name for key in changed]
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"), version == bindparam("b_version"))
            .values({name: bindparam(f"b_{name}") for name in columns}
                    | {version.name: bindparam("b_next_version")}))
        next_versions = [mapper.version_id_generator(ruta.version) for ruta in group]
        with session.no_autoflush:  # or the ORM writes them first, a statement each
            result = session.execute(statement, [
                {"b_id": ruta.id, "b_version": ruta.version, "b_next_version": next_version}
                | {f"b_{name}": getattr(ruta, key)
                   for key, name in zip(changed, columns, strict=True)}
                for ruta, next_version in zip(group, next_versions, strict=True)])
        written = result.rowcount  # type: ignore[attr-defined]
        if written != len(group):
            raise StaleDataError(f"{len(group) - written} of {len(group)} Rutas moved meanwhile")
        for ruta, next_version in zip(group, next_versions, strict=True):
            # What was written is now what the session holds as stored: no UPDATE of its own.
            for key in changed:
                set_committed_value(ruta, key, getattr(ruta, key))
            set_committed_value(ruta, version_key, next_version)
    session.flush()
