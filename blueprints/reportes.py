"""The Secretaría's consolidated view (/reportes/) and its exports (Excel and CSV).

Both read ``workflow.consolidado`` under the same filters. The Excel file is written in
write-only mode to a temporary file and streamed from it; the CSV is streamed line by line.
A Secretaría's data (hundreds of schools × about a hundred componentes) is built in a few
seconds, so both run within the request: there is no background job.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, current_app, render_template, request, send_file

from blueprints.access import SECRETARIA_ROLES, roles_required
from blueprints.access import current_actor as _actor
from ruta.db import db_session
from workflow import consolidado, exports
from workflow.catalog import LEVELS
from workflow.charts import Bar, averages_chart, levels_chart
from workflow.models import Zona

bp = Blueprint("reportes", __name__, url_prefix="/reportes")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _data() -> consolidado.Consolidado:
    filters = consolidado.Filters.parse(request.args.get("zona"), request.args.get("comuna"))
    return consolidado.consolidate(db_session(), _actor(), filters, now=datetime.now(UTC),
                                   stalled_days=current_app.config["STALLED_DAYS"])


@bp.get("/")
@roles_required(*SECRETARIA_ROLES)
def index() -> str:
    return render_template("reportes/index.html", data=_data(), zonas=list(Zona),
                           levels=LEVELS)


def _svg(markup: str) -> Response:
    response = Response(markup, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


@bp.get("/graficos/<chart>.svg")
@roles_required(*SECRETARIA_ROLES)
def chart(chart: str) -> Response:
    data = _data()
    if chart == "embudo":
        return _svg(consolidado.funnel_chart(data.funnel))
    if chart in {"areas", "procesos", "niveles"}:
        perfil = data.perfil
        areas = perfil.areas if perfil else []
        if chart == "areas":
            return _svg(averages_chart("Promedio municipal por área de gestión",
                                       [Bar(area.name, area.tally.average) for area in areas]))
        if chart == "procesos":
            return _svg(averages_chart(
                "Promedio municipal por proceso",
                [Bar(f"{proceso.code} {proceso.name}", proceso.tally.average)
                 for area in areas for proceso in area.procesos]))
        names = ({level: data.catalog.level_name(level) for level in LEVELS}
                 if data.catalog else {})
        return _svg(levels_chart("Valoraciones en cada nivel, por área de gestión",
                                 [(area.name, area.tally.counts, area.tally.unrated)
                                  for area in areas], names))
    abort(404)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


@bp.get("/consolidado.xlsx")
@roles_required(*SECRETARIA_ROLES)
def export_xlsx() -> Response:
    all_sheets = exports.sheets(db_session(), _data())
    # Deleted when closed: the response closes it once sent.
    spool = tempfile.TemporaryFile()  # noqa: SIM115
    exports.write_xlsx(all_sheets, spool)
    spool.seek(0)
    return send_file(spool, mimetype=XLSX, as_attachment=True,
                     download_name=f"consolidado-{_stamp()}.xlsx", conditional=False,
                     etag=False, max_age=0)


@bp.get("/consolidado.csv")
@roles_required(*SECRETARIA_ROLES)
def export_csv() -> Response:
    all_sheets = {sheet.slug: sheet for sheet in exports.sheets(db_session(), _data())}
    sheet = all_sheets.get(request.args.get("hoja", "instituciones"))
    if sheet is None:
        abort(404)
    response = Response(exports.csv_lines(sheet), mimetype="text/csv")
    response.headers.set("Content-Disposition", "attachment",
                         filename=f"consolidado-{sheet.slug}-{_stamp()}.csv")
    return response
