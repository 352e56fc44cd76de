"""Correo saliente: the administrator's view of the outbox, with retries.

Only administrators, and only their Secretaría's messages. A failed message is retried on
request; an unknown one (the server may already have it) only after the administrator
confirms that it may arrive twice. After a crash or an outage, every «incierto» message of a
period (days of creation, Bogotá) is retried at once from /admin/correo/inciertos: the page
first says how many and which, then asks for the same confirmation.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func
from sqlalchemy.orm import defer
from werkzeug.wrappers import Response

from blueprints.access import form_int, roles_required
from ruta.db import db_session
from workflow import scope_versions
from workflow.correo import delivery
from workflow.dates import BOGOTA
from workflow.horizontes.calendar import parse_day
from workflow.memo import Memo
from workflow.models import OutboxMessage, OutboxStatus, utcnow
from workflow.roles import Role
from workflow.scope_versions import OUTBOX, cached
from workflow.scoping import get_in_scope, scoped

bp = Blueprint("outbox", __name__, url_prefix="/admin/correo")

# The order of the filter tabs: what needs attention first.
STATUS_ORDER = (OutboxStatus.FAILED, OutboxStatus.UNKNOWN, OutboxStatus.PENDING,
                OutboxStatus.SENDING, OutboxStatus.SENT)
# Per process: the counts by status of each Secretaría's messages (``scope_versions.OUTBOX``).
STATUS_COUNTS: Memo[dict[OutboxStatus, int]] = scope_versions.memo(8)
RETRYABLE = frozenset({OutboxStatus.FAILED, OutboxStatus.UNKNOWN})


@bp.get("/")
@roles_required(Role.ADMINISTRADOR)
def index() -> str:
    database = db_session()
    status_value = request.args.get("estado", "")
    status = next((item for item in OutboxStatus if item.value == status_value), None)
    in_scope = scoped(current_user, OutboxMessage)
    # One pass over the Secretaría's messages, counting by status from the index on
    # (secretaria_id, status, id) without reading the rows; the tab's total is one of the
    # counts (issue 17: it was a second count over the same rows). Once per version of the
    # Secretaría's outbox in each process: the pass read 120,000 index entries at 10,000
    # schools (20 ms), and the messages change status only while mail is delivered.
    counts = cached(STATUS_COUNTS, database, current_user.secretaria_id, "counts", lambda: {
        status: total for status, total in database.execute(
            in_scope.with_only_columns(OutboxMessage.status, func.count())
            .group_by(OutboxMessage.status))}, kind=OUTBOX)
    statement = in_scope
    if status is not None:
        statement = statement.where(OutboxMessage.status == status)
    page_size = current_app.config["QUEUE_PAGE_SIZE"]
    total = counts.get(status, 0) if status is not None else sum(counts.values())
    pages = max((total + page_size - 1) // page_size, 1)
    page = min(max(form_int(request.args.get("pagina")) or 1, 1), pages)
    # The page's rows, newest first, without their bodies (the list does not show them).
    messages = database.scalars(
        statement.options(defer(OutboxMessage.text_body), defer(OutboxMessage.html_body),
                          defer(OutboxMessage.secret_link))
        .order_by(OutboxMessage.id.desc())
        .limit(page_size).offset((page - 1) * page_size)).all()
    return render_template(
        "outbox/index.html", messages=messages, status=status, statuses=STATUS_ORDER,
        counts=counts, total=total, page=page, pages=pages, OutboxStatus=OutboxStatus,
    )


def _render_message(message: OutboxMessage, **context: object) -> str:
    return render_template("outbox/message.html", message=message, retryable=RETRYABLE,
                           OutboxStatus=OutboxStatus, **context)


@bp.get("/<int:message_id>")
@roles_required(Role.ADMINISTRADOR)
def message(message_id: int) -> str:
    return _render_message(get_in_scope(db_session(), current_user, OutboxMessage, message_id))


@bp.post("/<int:message_id>/reintentar")
@roles_required(Role.ADMINISTRADOR)
def retry(message_id: int) -> Response | tuple[str, int]:
    database = db_session()
    found = get_in_scope(database, current_user, OutboxMessage, message_id)
    try:
        delivery.retry(database, found, actor=current_user,
                       confirm_duplicate=request.form.get("confirmar") == "si")
    except (delivery.DuplicateRiskNotConfirmed, delivery.NotRetryable) as refused:
        database.rollback()
        return _render_message(found, error_message=refused.message), refused.status
    database.commit()
    flash("El mensaje volvió a la cola: se enviará en la próxima pasada del envío de correo.",
          "success")
    return redirect(url_for("outbox.message", message_id=found.id))


# --- every «incierto» message of a period ------------------------------------------------

PERIOD_DAYS = 7


def _bogota_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BOGOTA)


def _period(source: dict[str, str]) -> tuple[dict[str, str], dict[str, list[str]],
                                               tuple[datetime, datetime] | None]:
    """The period typed (values as typed), what is wrong with it, and its [start, end)."""
    today = utcnow().astimezone(BOGOTA).date()
    values = {"desde": (source.get("desde") or "").strip()[:20],
              "hasta": (source.get("hasta") or "").strip()[:20]}
    if not values["desde"] and not values["hasta"]:
        values = {"desde": (today - timedelta(days=PERIOD_DAYS)).isoformat(),
                  "hasta": today.isoformat()}
    errors: dict[str, list[str]] = {}
    since, until = parse_day(values["desde"]), parse_day(values["hasta"])
    if since is None:
        errors["desde"] = ["Escriba la fecha inicial del periodo (día, mes y año)."]
    if until is None:
        errors["hasta"] = ["Escriba la fecha final del periodo (día, mes y año)."]
    if since is not None and until is not None and until < since:
        errors["hasta"] = ["La fecha final no puede ser anterior a la inicial."]
    if errors or since is None or until is None:
        return values, errors, None
    return values, errors, (_bogota_midnight(since),
                            _bogota_midnight(until + timedelta(days=1)))


def _render_period(values: dict[str, str], errors: dict[str, list[str]],
                   period: tuple[datetime, datetime] | None) -> str:
    total, sample = (delivery.unknown_between(db_session(), actor=current_user,
                                              start=period[0], end=period[1])
                     if period else (0, []))
    return render_template("outbox/inciertos.html", values=values, errors=errors,
                           checked=period is not None, total=total, sample=sample)


@bp.get("/inciertos")
@roles_required(Role.ADMINISTRADOR)
def unknown_period() -> str:
    values, errors, period = _period(request.args)
    return _render_period(values, errors, period)


@bp.post("/inciertos")
@roles_required(Role.ADMINISTRADOR)
def retry_unknown_period() -> Response | tuple[str, int]:
    database = db_session()
    values, errors, period = _period(request.form)
    if period is None:
        return _render_period(values, errors, None), 422
    try:
        retried = delivery.retry_unknown(database, actor=current_user, start=period[0],
                                         end=period[1],
                                         confirm_duplicate=request.form.get("confirmar") == "si")
    except delivery.DuplicateRiskNotConfirmed as refused:
        database.rollback()
        return _render_period(values, {"confirmar": [refused.message]}, period), refused.status
    database.commit()
    flash(f"{retried} mensaje{'s' if retried != 1 else ''} incierto{'s' if retried != 1 else ''}"
          f" volvi{'eron' if retried != 1 else 'ó'} a la cola: se enviará"
          f"{'n' if retried != 1 else ''} en la próxima pasada del envío de correo.", "success")
    return redirect(url_for("outbox.index", estado=OutboxStatus.PENDING.value))
