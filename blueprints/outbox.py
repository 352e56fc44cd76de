"""Correo saliente: the administrator's view of the outbox, with retries.

Only administrators, and only their Secretaría's messages. A failed message is retried on
request; an unknown one (the server may already have it) only after the administrator
confirms that it may arrive twice.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func
from werkzeug.wrappers import Response

from blueprints.access import form_int, roles_required
from ruta.db import db_session
from workflow.correo import delivery
from workflow.models import OutboxMessage, OutboxStatus
from workflow.roles import Role
from workflow.scoping import get_in_scope, scoped

bp = Blueprint("outbox", __name__, url_prefix="/admin/correo")

# The order of the filter tabs: what needs attention first.
STATUS_ORDER = (OutboxStatus.FAILED, OutboxStatus.UNKNOWN, OutboxStatus.PENDING,
                OutboxStatus.SENDING, OutboxStatus.SENT)
RETRYABLE = frozenset({OutboxStatus.FAILED, OutboxStatus.UNKNOWN})


@bp.get("/")
@roles_required(Role.ADMINISTRADOR)
def index() -> str:
    database = db_session()
    status_value = request.args.get("estado", "")
    status = next((item for item in OutboxStatus if item.value == status_value), None)
    in_scope = scoped(current_user, OutboxMessage)
    counts = {status: total for status, total in database.execute(
        in_scope.with_only_columns(OutboxMessage.status, func.count(OutboxMessage.id))
        .group_by(OutboxMessage.status))}
    statement = in_scope
    if status is not None:
        statement = statement.where(OutboxMessage.status == status)
    page_size = current_app.config["QUEUE_PAGE_SIZE"]
    total = database.scalar(
        statement.with_only_columns(func.count(OutboxMessage.id)).order_by(None)) or 0
    pages = max((total + page_size - 1) // page_size, 1)
    page = min(max(form_int(request.args.get("pagina")) or 1, 1), pages)
    messages = database.scalars(
        statement.order_by(OutboxMessage.id.desc())
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
