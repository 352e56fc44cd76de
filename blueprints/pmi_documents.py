"""The PMI's versions and their differences, its printable page, and the Secretaría's list of
hallazgo sources (administradores add to it).

Routes of the ``pmi`` blueprint (their endpoints keep the ``pmi.`` prefix), kept in their own
module so that ``blueprints/pmi.py`` holds the plan and its review; the app factory imports
this module before it registers the blueprint.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, render_template, request, session, url_for

from blueprints.access import ALL_ROLES, form_int, posted_form, roles_required
from blueprints.access import commit_or_conflict as _commit
from blueprints.access import current_actor as _actor
from blueprints.access import ruta_in_scope as _ruta
from blueprints.pmi import bp, catalog_componentes
from ruta.db import db_session
from workflow.errors import InvalidInput
from workflow.pmi import checks as pmi_checks
from workflow.pmi import fuentes as pmi_fuentes
from workflow.pmi import plan as pmi
from workflow.pmi import rubric as rubrics
from workflow.pmi import versions as pmi_versions
from workflow.pmi.models import (
    COMPARACION_LABELS,
    META_TIPO_LABELS,
    Fuente,
    Trayectoria,
    ValorUnidad,
)
from workflow.roles import Role

# --- versions and printing ----------------------------------------------------------------


@bp.get("/rutas/<int:ruta_id>/pmi/versiones")
@roles_required(*ALL_ROLES)
def versions(ruta_id: int) -> str:
    ruta = _ruta(ruta_id)
    database = db_session()
    snapshots = pmi_versions.snapshots(database, ruta)
    older, newer = form_int(request.args.get("de")), form_int(request.args.get("a"))
    if snapshots and (older is None or newer is None):
        newer = snapshots[-1].number
        older = snapshots[-2].number if len(snapshots) > 1 else None
    changes = None
    if older is not None and newer is not None:
        changes = pmi_versions.diff_snapshots(database, ruta, older, newer)
    judged = pmi_versions.judgments(database, ruta)
    return render_template("pmi/versions.html", ruta=ruta, snapshots=snapshots, older=older,
                           newer=newer, changes=changes,
                           approval=pmi_versions.approval(database, ruta),
                           rubric_rounds={item.snapshot.id: item
                                          for item in rubrics.rounds(database, ruta)
                                          if item.snapshot is not None},
                           judgments={snapshot.id: [
                               row for row in judged
                               if row.snapshot is not None and row.snapshot.id == snapshot.id]
                               for snapshot in snapshots})


@bp.get("/rutas/<int:ruta_id>/pmi/imprimir")
@roles_required(*ALL_ROLES)
def printable(ruta_id: int) -> str:
    """The plan as sent (the latest version), or the draft when it was never sent."""
    ruta = _ruta(ruta_id)
    database = db_session()
    number = form_int(request.args.get("version"))
    snapshot = (pmi_versions.get_snapshot(database, ruta, number) if number is not None
                else pmi_versions.latest(database, ruta))
    content = snapshot.content if snapshot else pmi.plan_content(database, ruta)
    # The page is printed: pending messages are shown on screen only, never on paper.
    messages = session.pop("_flashes", [])
    return render_template("pmi/print.html", ruta=ruta, snapshot=snapshot, content=content,
                           approval=pmi_versions.approval(database, ruta), messages=messages,
                           date_text=pmi_versions.date_text,
                           labels=pmi.element_labels(content),
                           report=pmi_checks.run_checks(content),
                           rubric_round=rubrics.round_of_snapshot(database, ruta, snapshot),
                           fuentes={f.value: f.label for f in Fuente},
                           units={u.value: u.label for u in ValorUnidad},
                           comparaciones={c.value: label
                                          for c, label in COMPARACION_LABELS.items()},
                           meta_tipos={t.value: label for t, label in META_TIPO_LABELS.items()},
                           trayectorias={t.value: t.label for t in Trayectoria},
                           componentes={c.id: c for c in catalog_componentes(ruta)})


# --- the Secretaría's sources of hallazgos --------------------------------------------------


def _fuentes_page(**extra: Any) -> str:
    actor = _actor()
    return render_template(
        "pmi/fuentes.html", shipped=pmi_fuentes.shipped(),
        own=pmi_fuentes.secretaria_fuentes(db_session(), actor.secretaria_id),
        can_manage=actor.role is Role.ADMINISTRADOR,
        **{"errors": {}, "posted": {}, **extra})


@bp.get("/pmi/fuentes")
@roles_required(Role.ADMINISTRADOR, Role.REVISOR, Role.CONSULTA)
def fuentes() -> str:
    return _fuentes_page()


@bp.post("/pmi/fuentes")
@roles_required(Role.ADMINISTRADOR)
def add_fuente() -> Response | tuple[str, int]:
    database = db_session()
    form = posted_form()
    try:
        row = pmi_fuentes.add_fuente(database, actor=_actor(),
                                     nombre=str(form.get("nombre", "")),
                                     externa=form.get("externa") != "0")
    except InvalidInput as invalid:
        database.rollback()
        return _fuentes_page(errors=invalid.errors, posted=form), 422
    _commit()
    flash(f"Fuente agregada: «{row.nombre}». Las instituciones ya la pueden elegir.", "success")
    return redirect(url_for("pmi.fuentes"))
