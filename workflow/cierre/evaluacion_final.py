"""The final evaluation of a Ruta, its closing, and the opening of the next cycle.

At the end of the horizon, while the Ruta is in ``seguimiento``, the rector and the equipo de
gestión record per meta of the approved PMI whether it was reached (alcanzada, parcialmente
alcanzada, no alcanzada), the value reached in the meta's unit and a comment; per indicador
its final value; the lessons learned; and how the results were communicated to the
comunidad educativa. The rector marks it «registrada» when every meta is judged and the
lessons are written: that is the fact behind the ``final_evaluation_recorded`` guard of
``cerrar`` (``workflow.cierre.actions``). Once the Ruta is closed nothing here changes.

When recording opens: from the due date of the last seguimiento checkpoint of the horizon's
last year, or from 1 November of that year, whichever comes first (``opens_on``). The school
can then evaluate right after its last report, and never later than November, so the
Secretaría can close the Ruta before the school year ends.

A closed Ruta seeds the next one (``open_next_ruta``): the administración opens the next
horizon's Ruta through ``opening.open_ruta``, linked by ``Ruta.previous_ruta_id``, with the
identity review copied as a starting point. Services flush, never commit; bad input raises
``InvalidInput`` before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.autoevaluacion.models import IdentityReview
from workflow.autoevaluacion.team import is_rector_of, member_for
from workflow.cierre.models import FinalEvaluation, IndicatorResult, MetaResult, Verdict
from workflow.dates import BOGOTA, fecha
from workflow.errors import Forbidden, InvalidInput, NotEditable, require_version
from workflow.horizontes import opening
from workflow.horizontes.calendar import calendar_for
from workflow.models import Ruta, User, utcnow
from workflow.pmi.graph import plan_graph
from workflow.pmi.models import Indicador, Meta
from workflow.pmi.plan import labels_of, objetivos_with_indicadores
from workflow.roles import Role
from workflow.ruta_rows import rows_of
from workflow.seguimiento.models import ReasonsByField
from workflow.states import State

MAX_TEXT = 5000
NUMBER = re.compile(r"^-?\d{1,12}([.,]\d{1,4})?$")
# Recording opens on this day of the horizon's last year at the latest.
LATEST_OPENING = (11, 1)


# --- when, and who ------------------------------------------------------------------------


def today_in_bogota(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(BOGOTA).date()


def opens_on(session: Session, ruta: Ruta) -> date:
    """The first day the final evaluation may be recorded (see the module's docstring)."""
    latest = date(ruta.horizon_end_year, *LATEST_OPENING)
    calendar = calendar_for(session, ruta.school.secretaria_id, ruta.horizon_start_year)
    last_checkpoint = max((checkpoint.due_on for checkpoint in calendar.checkpoints
                           if checkpoint.due_on.year == ruta.horizon_end_year),
                          default=None) if calendar is not None else None
    return min(latest, last_checkpoint) if last_checkpoint is not None else latest


def may_record(session: Session, ruta: Ruta, actor: User) -> bool:
    """The rector and the members of the equipo de gestión record the evaluation."""
    return is_rector_of(actor, ruta) or member_for(session, ruta, actor) is not None


def _lock(session: Session, ruta: Ruta) -> None:
    # Locked and re-read, so a save, the registration and ``cerrar`` cannot interleave.
    session.scalars(select(Ruta).where(Ruta.id == ruta.id).with_for_update()
                    .execution_options(populate_existing=True)).one()


def _require_open(session: Session, ruta: Ruta, now: datetime | None) -> None:
    if ruta.state is State.CERRADO:
        raise NotEditable("La Ruta está cerrada: su evaluación final ya no se modifica. Se "
                          "puede consultar y imprimir el resumen de resultados.")
    if ruta.state is not State.SEGUIMIENTO:
        raise NotEditable("La evaluación final se registra durante el seguimiento del plan, al "
                          f"final del horizonte; la Ruta está en «{ruta.state.label}».")
    opening = opens_on(session, ruta)
    if today_in_bogota(now) < opening:
        raise NotEditable(f"La evaluación final se registra desde el {fecha(opening)}, al "
                          f"final del horizonte {ruta.horizon_label}.")


def _require_recorder(session: Session, ruta: Ruta, actor: User) -> None:
    if not may_record(session, ruta, actor):
        raise Forbidden("La evaluación final la registran el rector o la rectora y el equipo "
                        "de gestión de la institución.")


def _require_rector(ruta: Ruta, actor: User, what: str) -> None:
    if not is_rector_of(actor, ruta):
        raise Forbidden(f"Solo el rector o la rectora de la institución {what}.")


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorRow:
    indicador: Indicador
    label: str
    result: IndicatorResult | None


@dataclass(frozen=True)
class MetaRow:
    meta: Meta
    label: str
    objetivo_label: str
    result: MetaResult | None
    indicadores: list[IndicatorRow]


@dataclass
class EvaluationView:
    """Everything the pages show of a Ruta's final evaluation."""

    ruta: Ruta
    evaluation: FinalEvaluation | None
    metas: list[MetaRow]
    opens_on: date
    is_open: bool
    missing: list[str] = field(default_factory=list)

    @property
    def registered(self) -> bool:
        return self.evaluation is not None and self.evaluation.registered

    @property
    def started(self) -> bool:
        return self.evaluation is not None or any(row.result for row in self.metas)

    def count(self, verdict: Verdict) -> int:
        return sum(1 for row in self.metas if row.result and row.result.verdict is verdict)


@dataclass(frozen=True)
class Glance:
    """The final evaluation as the Ruta page shows it (``EvaluationView``'s flags, without
    reading the plan's metas and results)."""

    evaluation: FinalEvaluation | None
    started: bool
    opens_on: date
    is_open: bool

    @property
    def registered(self) -> bool:
        return self.evaluation is not None and self.evaluation.registered


def glance(session: Session, ruta: Ruta, *, now: datetime | None = None) -> Glance:
    evaluation = get_evaluation(session, ruta)
    # ``EvaluationView.started``: a saved evaluation, or a result for a meta of the plan.
    metas = {row.id for row in plan_graph(session, ruta).metas}
    started = evaluation is not None or any(
        row.meta_id in metas for row in rows_of(session, MetaResult, ruta.id))
    opening = opens_on(session, ruta)
    return Glance(evaluation, started, opening,
                  is_open=ruta.state is State.SEGUIMIENTO and today_in_bogota(now) >= opening)


def get_evaluation(session: Session, ruta: Ruta) -> FinalEvaluation | None:
    # ``rows_of`` rather than ``session.get``: a page's prefetch also knows there is none.
    return next(iter(rows_of(session, FinalEvaluation, ruta.id)), None)


def load(session: Session, ruta: Ruta, *, now: datetime | None = None) -> EvaluationView:
    # The metas with their indicadores and their numbers (every meta hangs from an
    # objetivo), rather than the whole plan.
    objetivos = objetivos_with_indicadores(session, ruta)
    labels = labels_of(objetivos, actividades=False)
    metas = sorted((meta for objetivo in objetivos for meta in objetivo.metas),
                   key=lambda meta: meta.id)
    meta_results = {row.meta_id: row for row in session.scalars(
        select(MetaResult).where(MetaResult.ruta_id == ruta.id))}
    indicator_results = {row.indicador_id: row for row in session.scalars(
        select(IndicatorResult).where(IndicatorResult.ruta_id == ruta.id))}
    # The order of the plan: objetivo by objetivo, then meta by meta.
    objetivo_order = {row.id: index for index, row in enumerate(objetivos)}
    metas.sort(key=lambda meta: (objetivo_order.get(meta.objetivo_id, 0), meta.id))
    rows = [MetaRow(
        meta, labels.get(f"meta:{meta.id}", "Meta"),
        labels.get(f"objetivo:{meta.objetivo_id}", "Objetivo"), meta_results.get(meta.id),
        [IndicatorRow(indicador, labels.get(f"indicador:{indicador.id}", "Indicador"),
                      indicator_results.get(indicador.id)) for indicador in meta.indicadores])
        for meta in metas]
    opening = opens_on(session, ruta)
    view = EvaluationView(ruta, get_evaluation(session, ruta), rows, opening,
                          is_open=(ruta.state is State.SEGUIMIENTO
                                   and today_in_bogota(now) >= opening))
    view.missing = _missing(view)
    return view


def missing_by_field(view: EvaluationView) -> dict[str, list[str]]:
    """What the evaluation lacks to be registered, keyed by the id of the field that fixes
    it ("" when no field does), in the order of the page."""
    missing = {verdict_field(row.meta.id): [f"{row.label}: diga si se alcanzó, se alcanzó "
                                            "parcialmente o no se alcanzó."]
               for row in view.metas if row.result is None}
    if not view.metas:
        missing[""] = ["El PMI no tiene metas que evaluar."]
    if view.evaluation is None or not view.evaluation.lecciones.strip():
        missing["lecciones"] = ["Escriba las lecciones aprendidas."]
    return missing


def _missing(view: EvaluationView) -> list[str]:
    """What the evaluation lacks to be registered, in the order of the page."""
    return [text for texts in missing_by_field(view).values() for text in texts]


def unrecorded_reasons(session: Session, ruta: Ruta) -> list[str]:
    """Why ``cerrar`` must wait; empty when the final evaluation is registered."""
    evaluation = get_evaluation(session, ruta)
    if evaluation is not None and evaluation.registered:
        return []
    if evaluation is None:
        return ["La institución todavía no ha registrado la evaluación final del plan (metas "
                "alcanzadas o no, con sus valores, y lecciones aprendidas)."]
    return ["La evaluación final está en borrador: el rector o la rectora debe marcarla como "
            "registrada antes de cerrar la Ruta."]


def can_edit(session: Session, ruta: Ruta, actor: User, *, now: datetime | None = None) -> bool:
    """Whether the page offers ``actor`` the form (the services check it all again)."""
    if ruta.state is not State.SEGUIMIENTO or not may_record(session, ruta, actor):
        return False
    evaluation = get_evaluation(session, ruta)
    if evaluation is not None and evaluation.registered:
        return False
    return today_in_bogota(now) >= opens_on(session, ruta)


# --- parsing ------------------------------------------------------------------------------

Form = Mapping[str, Any]


def _text(form: Form, name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip()


def _number(raw: str, label: str, name: str, errors: dict[str, list[str]]) -> float | None:
    raw = raw.replace(" ", "").removesuffix("%")
    if not raw:
        return None
    if not NUMBER.match(raw):
        errors[name] = [f"{label}: el valor debe ser un número (por ejemplo, 42 o 12,5); "
                        f"llegó «{raw[:20]}»."]
        return None
    value = float(raw.replace(",", "."))
    if value < 0:
        errors[name] = [f"{label}: el valor no puede ser negativo."]
        return None
    return value


def _limited(form: Form, name: str, label: str, errors: dict[str, list[str]]) -> str:
    value = _text(form, name)
    if len(value) > MAX_TEXT:
        errors[name] = [f"{label} no puede pasar de {MAX_TEXT} caracteres."]
    return value


def verdict_field(meta_id: int) -> str:
    return f"veredicto-{meta_id}"


def value_field(meta_id: int) -> str:
    return f"valor-{meta_id}"


def comment_field(meta_id: int) -> str:
    return f"comentario-{meta_id}"


def indicator_field(indicador_id: int) -> str:
    return f"indicador-{indicador_id}"


@dataclass
class _Parsed:
    metas: dict[int, tuple[Verdict, float | None, str] | None]
    indicadores: dict[int, float | None]
    lecciones: str
    comunicacion_medio: str
    comunicacion_fecha: date | None


def _parse(view: EvaluationView, form: Form, today: date) -> _Parsed:
    errors: dict[str, list[str]] = {}
    metas: dict[int, tuple[Verdict, float | None, str] | None] = {}
    indicadores: dict[int, float | None] = {}
    for row in view.metas:
        meta_id = row.meta.id
        raw_verdict = _text(form, verdict_field(meta_id))
        value = _number(_text(form, value_field(meta_id)), f"{row.label} (valor alcanzado)",
                        value_field(meta_id), errors)
        comment = _limited(form, comment_field(meta_id), f"{row.label}: el comentario", errors)
        verdict = None
        if raw_verdict:
            try:
                verdict = Verdict(raw_verdict)
            except ValueError:
                errors[verdict_field(meta_id)] = [f"{row.label}: elija una de las opciones "
                                                  "(alcanzada, parcialmente, no alcanzada)."]
        elif value is not None or comment or _text(form, value_field(meta_id)):
            errors[verdict_field(meta_id)] = [
                f"{row.label}: diga si se alcanzó, se alcanzó parcialmente o no se alcanzó; "
                "sin eso el valor y el comentario no se guardan."]
        metas[meta_id] = (verdict, value, comment) if verdict is not None else None
        for indicator in row.indicadores:
            name = indicator_field(indicator.indicador.id)
            indicadores[indicator.indicador.id] = _number(
                _text(form, name), f"{indicator.label} (valor final)", name, errors)
    lecciones = _limited(form, "lecciones", "Las lecciones aprendidas", errors)
    medio = _limited(form, "comunicacion_medio", "La comunicación de resultados", errors)
    raw_date = _text(form, "comunicacion_fecha")
    comunicacion_fecha = None
    if raw_date:
        try:
            comunicacion_fecha = date.fromisoformat(raw_date)
        except ValueError:
            errors["comunicacion_fecha"] = ["La fecha de la comunicación de resultados no es "
                                            "una fecha válida (AAAA-MM-DD)."]
        else:
            if comunicacion_fecha > today:
                errors["comunicacion_fecha"] = [
                    "La fecha de la comunicación de resultados todavía no ha llegado: "
                    "regístrela cuando los resultados se hayan comunicado."]
            elif comunicacion_fecha.year < view.ruta.horizon_start_year:
                errors["comunicacion_fecha"] = [
                    "La fecha de la comunicación de resultados es anterior al horizonte "
                    f"del plan ({view.ruta.horizon_label})."]
    if errors:
        raise InvalidInput(errors)
    return _Parsed(metas, indicadores, lecciones, medio, comunicacion_fecha)


# --- writing ------------------------------------------------------------------------------


# What a stale save names (``StaleEdit``).
WHAT = "la evaluación final"


def version_of(evaluation: FinalEvaluation | None) -> int:
    """The version a form is drawn from: 0 while nothing is saved."""
    return evaluation.version if evaluation is not None else 0


def save(session: Session, ruta: Ruta, form: Form, *, actor: User,
         expected_version: int | None = None, now: datetime | None = None) -> FinalEvaluation:
    """Save the evaluation as a draft, all or nothing. Flushes.

    Changes: the ``FinalEvaluation`` row (its ``version`` + 1), one ``MetaResult`` per judged
    meta (a meta left blank has none) and one ``IndicatorResult`` per indicador with a value.
    Refused after the Ruta is closed, before recording opens, and while it is registered;
    ``StaleEdit`` (409) when ``expected_version`` (the version the form was drawn from; None:
    not checked) is not the saved one: someone saved in between.
    """
    _require_recorder(session, ruta, actor)
    _lock(session, ruta)
    _require_open(session, ruta, now)
    evaluation = get_evaluation(session, ruta)
    if evaluation is not None:
        # Re-read: the Ruta's lock serializes savers, the row may have changed meanwhile.
        session.refresh(evaluation)
    require_version(version_of(evaluation), expected_version, WHAT)
    if evaluation is not None and evaluation.registered:
        raise NotEditable("La evaluación final ya está registrada. Para corregirla, el rector "
                          "o la rectora debe reabrirla primero.")
    moment = now or utcnow()
    view = load(session, ruta, now=now)
    parsed = _parse(view, form, today_in_bogota(now))
    if evaluation is None:
        evaluation = FinalEvaluation(ruta_id=ruta.id, version=0)
        session.add(evaluation)
    evaluation.version += 1
    evaluation.lecciones = parsed.lecciones
    evaluation.comunicacion_medio = parsed.comunicacion_medio
    evaluation.comunicacion_fecha = parsed.comunicacion_fecha
    evaluation.updated_at, evaluation.updated_by_id = moment, actor.id
    for row in view.metas:
        given = parsed.metas[row.meta.id]
        if given is None:
            if row.result is not None:
                session.delete(row.result)
            continue
        result = row.result or MetaResult(ruta_id=ruta.id, meta_id=row.meta.id)
        session.add(result)
        result.verdict, result.valor_alcanzado, result.comentario = given
        result.updated_at, result.updated_by_id = moment, actor.id
    for row in view.metas:
        for indicator in row.indicadores:
            _store_indicator(session, ruta, indicator, parsed.indicadores, actor, moment)
    session.flush()
    return evaluation


def _store_indicator(session: Session, ruta: Ruta, row: IndicatorRow,
                     values: Mapping[int, float | None], actor: User, moment: datetime) -> None:
    value = values.get(row.indicador.id)
    if value is None:
        if row.result is not None:
            session.delete(row.result)
        return
    result = row.result or IndicatorResult(ruta_id=ruta.id, indicador_id=row.indicador.id)
    session.add(result)
    result.valor = value
    result.updated_at, result.updated_by_id = moment, actor.id


def register(session: Session, ruta: Ruta, *, actor: User,
             now: datetime | None = None) -> FinalEvaluation:
    """Mark the evaluation «registrada» (rector only): every meta judged, lessons written.

    Changes: ``registered_at`` and ``registered_by_id``. Raises ``ReasonsByField`` (a
    ``GuardFailed``) with what is missing, keyed by the field that fixes it. Flushes.
    """
    _require_rector(ruta, actor, "marca la evaluación final como registrada")
    _lock(session, ruta)
    _require_open(session, ruta, now)
    view = load(session, ruta, now=now)
    if view.missing:
        raise ReasonsByField("Todavía no se puede marcar la evaluación final como registrada.",
                             missing_by_field(view))
    evaluation = view.evaluation
    assert evaluation is not None  # no lessons without a row: ``missing`` says so
    if evaluation.registered:
        raise NotEditable("La evaluación final ya estaba registrada.")
    evaluation.registered_at, evaluation.registered_by_id = now or utcnow(), actor.id
    evaluation.version += 1
    session.flush()
    return evaluation


def reopen(session: Session, ruta: Ruta, *, actor: User,
           now: datetime | None = None) -> FinalEvaluation:
    """Take the evaluation back to draft to correct it (rector only, before closing).

    Changes: clears ``registered_at`` and ``registered_by_id``. Flushes.
    """
    _require_rector(ruta, actor, "reabre la evaluación final")
    _lock(session, ruta)
    if ruta.state is State.CERRADO:
        raise NotEditable("La Ruta está cerrada: su evaluación final ya no se modifica.")
    evaluation = get_evaluation(session, ruta)
    if evaluation is None or not evaluation.registered:
        raise NotEditable("La evaluación final no está registrada: ya se puede editar.")
    evaluation.registered_at = evaluation.registered_by_id = None
    evaluation.updated_at, evaluation.updated_by_id = now or utcnow(), actor.id
    evaluation.version += 1
    session.flush()
    return evaluation


# --- the next cycle -----------------------------------------------------------------------


def next_horizon(ruta: Ruta) -> tuple[int, int]:
    """The horizon after ``ruta``'s: it starts the next year and lasts what the Secretaría's
    horizons last."""
    start = ruta.horizon_end_year + 1
    return start, start + ruta.school.secretaria.horizon_years - 1


def next_horizon_label(ruta: Ruta) -> str:
    start, end = next_horizon(ruta)
    return f"{start}–{end}"


def successor(session: Session, ruta: Ruta) -> Ruta | None:
    """The Ruta that continues ``ruta``, if it was opened."""
    return session.scalar(select(Ruta).where(Ruta.previous_ruta_id == ruta.id))


def predecessor(session: Session, ruta: Ruta) -> Ruta | None:
    return session.get(Ruta, ruta.previous_ruta_id) if ruta.previous_ruta_id else None


def may_open_next(actor: User, ruta: Ruta) -> bool:
    """The administración opens Rutas (``opening.open_ruta``), the next cycle's too."""
    return (actor.active and actor.role is Role.ADMINISTRADOR
            and actor.secretaria_id == ruta.school.secretaria_id)


def open_next_ruta(session: Session, ruta: Ruta, *, actor: User,
                   now: datetime | None = None) -> Ruta:
    """Open the next horizon's Ruta from a closed one (administración only). Flushes.

    Changes: a new Ruta in ``borrador`` through ``opening.open_ruta`` (pinned to the current
    catalog, or to ``ruta``'s when the Secretaría has none; with its opening row in the
    history), ``previous_ruta_id`` pointing to ``ruta``,
    and a copy of the identity review (texts only: the team decides again whether they hold).
    If a Ruta for that horizon was already opened for the school without a link (the
    Secretaría's yearly opening), it is linked instead and nothing is copied.
    """
    if not may_open_next(actor, ruta):
        raise Forbidden("Solo la administración de la Secretaría abre la Ruta del siguiente "
                        "ciclo.")
    _lock(session, ruta)
    if ruta.state is not State.CERRADO:
        raise NotEditable(f"Solo una Ruta cerrada abre el siguiente ciclo; esta está en "
                          f"«{ruta.state.label}».")
    label = next_horizon_label(ruta)
    if successor(session, ruta) is not None:
        raise NotEditable(f"La Ruta {label} de esta institución ya fue abierta.")
    start, end = next_horizon(ruta)
    existing = session.scalar(select(Ruta).where(Ruta.school_id == ruta.school_id,
                                                 Ruta.horizon_start_year == start))
    if existing is not None:
        if existing.previous_ruta_id is not None:
            raise NotEditable(f"La Ruta {label} de esta institución ya existe y continúa "
                              "otra Ruta.")
        existing.previous_ruta_id = ruta.id
        session.flush()
        return existing
    opened = opening.open_ruta(session, ruta.school, actor=actor, start_year=start,
                               years=end - start + 1, now=now)
    opened.previous_ruta_id = ruta.id
    if getattr(opened, "catalog_id", None) is None:
        # The Secretaría has no current instrument: keep the one the previous cycle used, so
        # the school can start and the comparison holds componente by componente.
        opened.catalog_id = getattr(ruta, "catalog_id", None)  # type: ignore[attr-defined]
    identity = session.get(IdentityReview, ruta.id)
    if identity is not None:
        session.add(IdentityReview(
            ruta_id=opened.id, mision=identity.mision, vision=identity.vision,
            principios=identity.principios, pei_reference=identity.pei_reference,
            notes="", updated_at=now or utcnow(), updated_by_id=actor.id))
    session.flush()
    return opened

