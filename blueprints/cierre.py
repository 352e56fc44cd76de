"""The end of a Ruta: the final evaluation, the printable results summary, and the opening
of the next cycle.

Everyone who sees the Ruta reads the evaluation and the summary. The rector and the equipo
de gestión fill the evaluation during seguimiento, from the day recording opens; only the
rector marks it registrada (or reopens it to correct it). The revisor closes the Ruta from the
Ruta page (``cerrar``, refused until the evaluation is registered). The administración opens
the next horizon's Ruta from a closed one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from blueprints.access import ALL_ROLES, conflict_between, form_int, posted_form, roles_required
from blueprints.access import commit_or_conflict as _commit
from blueprints.access import current_actor as _actor
from blueprints.access import ruta_in_scope as _ruta
from ruta.db import db_session
from workflow.autoevaluacion.team import is_rector_of
from workflow.cierre import evaluacion_final as final
from workflow.cierre.models import Verdict
from workflow.dates import fecha
from workflow.errors import GuardFailed, InvalidInput, StaleEdit
from workflow.models import Ruta, User
from workflow.roles import Role
from workflow.states import State

bp = Blueprint("cierre", __name__)

@bp.app_context_processor
def _summary_helper() -> dict[str, Any]:
    return {"cierre_summary": _summary}


def _summary(ruta: Ruta) -> dict[str, Any]:
    """What the Ruta page shows of the end of the cycle (``cierre/_ruta_summary.html``)."""
    database = db_session()
    actor = _actor()
    shown = ruta.state in (State.SEGUIMIENTO, State.CERRADO)
    return {
        "shown": shown,
        "view": final.glance(database, ruta) if shown else None,
        # Only a closed Ruta has a next cycle to name (the template asks only then).
        "next": final.successor(database, ruta) if ruta.state is State.CERRADO else None,
        "previous": final.predecessor(database, ruta),
        "next_label": final.next_horizon_label(ruta),
        "may_open_next": ruta.state is State.CERRADO and final.may_open_next(actor, ruta),
        "can_edit": final.can_edit(database, ruta, actor),
    }


def _saved_values(view: final.EvaluationView) -> dict[str, Any]:
    """The saved evaluation as form values (with the version the form is drawn from)."""
    evaluation = view.evaluation
    values: dict[str, Any] = {
        "version": str(final.version_of(evaluation)),
        "lecciones": evaluation.lecciones if evaluation else "",
        "comunicacion_medio": evaluation.comunicacion_medio if evaluation else "",
        "comunicacion_fecha": (evaluation.comunicacion_fecha.isoformat()
                               if evaluation and evaluation.comunicacion_fecha else ""),
    }
    for row in view.metas:
        if row.result is not None:
            values[final.verdict_field(row.meta.id)] = row.result.verdict.value
            values[final.value_field(row.meta.id)] = _number(row.result.valor_alcanzado)
            values[final.comment_field(row.meta.id)] = row.result.comentario
        for indicator in row.indicadores:
            if indicator.result is not None:
                values[final.indicator_field(indicator.indicador.id)] = _number(
                    indicator.result.valor)
    return values


def _page_context(ruta: Ruta, **extra: Any) -> dict[str, Any]:
    database = db_session()
    actor = _actor()
    view = final.load(database, ruta)
    values = _saved_values(view)
    values.update(extra.pop("posted", {}))
    return {"ruta": ruta, "view": view, "values": values, "errors": extra.pop("errors", {}),
            "reasons": extra.pop("reasons", []), "Verdict": Verdict, "final": final,
            "conflict": extra.pop("conflict", None),
            "reason_fields": extra.pop("reason_fields", None),
            "can_edit": final.can_edit(database, ruta, actor),
            "is_rector": is_rector_of(actor, ruta), **extra}


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}".replace(".", ",")


@bp.get("/rutas/<int:ruta_id>/cierre")
@roles_required(*ALL_ROLES)
def index(ruta_id: int) -> str:
    return render_template("cierre/index.html", **_page_context(_ruta(ruta_id)))


@bp.post("/rutas/<int:ruta_id>/cierre/guardar")
@roles_required(Role.RECTOR, Role.EQUIPO)
def save(ruta_id: int) -> Response | tuple[str, int]:
    """Save the draft; with ``accion=registrar`` (the rector) also mark it registrada.

    Registering is all or nothing with the save: when something is missing, neither lands.
    A form drawn from an older version (someone saved since) answers 409 with the person's
    values, what is saved beside each changed field, and the new version to save again.
    """
    ruta = _ruta(ruta_id)
    database = db_session()
    posted = posted_form()
    registering = posted.get("accion") == "registrar"
    try:
        final.save(database, ruta, posted, actor=_actor(),
                   expected_version=form_int(posted.get("version")))
        if registering:
            final.register(database, ruta, actor=_actor())
    except StaleEdit:
        database.rollback()
        saved = _saved_values(final.load(database, ruta))
        evaluation = final.get_evaluation(database, ruta)
        author = (database.get(User, evaluation.updated_by_id)
                  if evaluation is not None and evaluation.updated_by_id else None)
        version = saved.pop("version")
        conflict = conflict_between(posted, saved, author.name if author else "")
        verdicts = {verdict.value: verdict.label for verdict in Verdict}
        # Beside a changed verdict, its label rather than its stored value.
        shown = {name: verdicts.get(value, value) if name.startswith("veredicto-") else value
                 for name, value in saved.items()}
        if evaluation is not None and evaluation.comunicacion_fecha is not None:
            shown["comunicacion_fecha"] = fecha(evaluation.comunicacion_fecha)
        return render_template("cierre/index.html", **_page_context(
            ruta, posted={**posted, "version": version},
            conflict=replace(conflict, saved=shown))), 409
    except InvalidInput as invalid:
        database.rollback()
        return render_template("cierre/index.html", **_page_context(
            ruta, errors=invalid.errors, posted=posted)), 422
    except GuardFailed as refused:
        database.rollback()
        return render_template("cierre/index.html", **_page_context(
            ruta, reasons=refused.reasons, reasons_title=refused.message, posted=posted,
            reason_fields=getattr(refused, "fields", None))), 422
    _commit()
    if registering:
        flash("La evaluación final quedó registrada. La Secretaría ya puede cerrar la Ruta.",
              "success")
    else:
        flash("Guardado: la evaluación final sigue en borrador.", "success")
    return redirect(url_for("cierre.index", ruta_id=ruta.id))


@bp.post("/rutas/<int:ruta_id>/cierre/reabrir")
@roles_required(Role.RECTOR)
def reopen(ruta_id: int) -> Response:
    ruta = _ruta(ruta_id)
    final.reopen(db_session(), ruta, actor=_actor())
    _commit()
    flash("La evaluación final volvió a borrador: corríjala y márquela de nuevo como "
          "registrada.", "success")
    return redirect(url_for("cierre.index", ruta_id=ruta.id))


@bp.get("/rutas/<int:ruta_id>/resultados")
@roles_required(*ALL_ROLES)
def results(ruta_id: int) -> str:
    ruta = _ruta(ruta_id)
    database = db_session()
    return render_template("cierre/resultados.html", ruta=ruta, view=final.load(database, ruta),
                           Verdict=Verdict,
                           closed_at=next((entry.at for entry in reversed(ruta.transitions)
                                           if entry.to_state is State.CERRADO), None))


@bp.post("/rutas/<int:ruta_id>/siguiente-ciclo")
@roles_required(Role.ADMINISTRADOR)
def open_next(ruta_id: int) -> Response:
    ruta = _ruta(ruta_id)
    opened = final.open_next_ruta(db_session(), ruta, actor=_actor())
    _commit()
    flash(f"Quedó abierta la Ruta {opened.horizon_label} de {ruta.school.name}, a partir de la "
          f"Ruta {ruta.horizon_label}.", "success")
    return redirect(url_for("rutas.detail", ruta_id=opened.id))
