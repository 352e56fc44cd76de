"""The Secretaría's consolidated view (/reportes/) and its exports (Excel and CSV).

The page reads the per-Ruta aggregates (``workflow.consolidado.summary``): counts, perfil,
lists and one page of the table in a handful of statements, whatever the number of schools; its
plan sections are memoised per version of the data, and its charts carry that version as their
ETag (a matching If-None-Match answers 304 without computing anything).

Even so, drawing it costs 80 ms at 10,000 schools (a census of every school, the lists, the
table, 100 KB of HTML). Its body is kept per process (``BODIES``) under the Secretaría's
``consolidado`` token, which the database replaces with every write of what the page shows
(migration 0042, ``workflow.scope_versions``), and the rest of what it is drawn from
(``_body_key``: the day, the query string, the viewer's scope, their export jobs), until the
first moment time alone changes it (a Ruta becoming estancada: ``Summary.changes_at``). A kept
view reads the session, the export jobs and the token, and refills the CSRF token
(``page_stamps.Body``). ``tests/web/test_reportes_page_cache.py`` proves the key complete.

The exports read ``workflow.consolidado`` under the same filters. Every CSV sheet is streamed
line by line as its rows are read, batch by batch, so the browser shows the download growing
from the first byte; each reads only its own data (``workflow.consolidado.export_scope``),
never the whole consolidado. The Excel file is never written in a web worker: the request
queues an ``ExportJob`` and the person follows its progress on /reportes/exportaciones/<id>,
which refreshes itself every 2 seconds (an HTTP ``Refresh`` header, no script) until the file
is ready; ``ruta scheduler`` writes it (every 15 s, ``workflow.consolidado.export_jobs``).

The printable consolidado (/reportes/imprimir) is the same page and template as /reportes/,
rendered with ``printable=True`` (the endpoint decides): no menus, forms, downloads or
pagination, a header for the Comité, the charts drawn into the page, and the whole table of
schools up to ``PRINT_MAX_SCHOOLS`` (above it, the schools that need attention: see
``_table``). /reportes/consolidado.pdf is that page made into a PDF on the server by
WeasyPrint (``ruta.pdf``), which reads only the app's own static files.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Hashable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from blueprints.access import SECRETARIA_ROLES, commit_or_conflict, form_int, roles_required
from blueprints.access import current_actor as _actor
from blueprints.horizontes import horizon_choices
from blueprints.listing import Sort, chosen_sort
from ruta.db import db_session
from ruta.security import FILE_CONTENT_SECURITY_POLICY, log_event
from workflow import page_stamps, scope_versions
from workflow.catalogo.models import LEVELS
from workflow.charts import Bar, averages_chart, levels_chart
from workflow.consolidado import consolidate as consolidado
from workflow.consolidado import export_jobs, exports, section_read, summary
from workflow.consolidado.export_scope import ExportScope
from workflow.consolidado.models import ExportJob
from workflow.correo.reminders import bogota_day
from workflow.form_tokens import new_token
from workflow.memo import Memo
from workflow.models import Zona, utcnow
from workflow.roles import Role
from workflow.search_keys import search_key
from workflow.states import STATE_ORDER

bp = Blueprint("reportes", __name__, url_prefix="/reportes")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REFRESH_SECONDS = 2
# The printable page and the PDF: what switches the template to ``printable``.
PRINT_ENDPOINTS = frozenset({"reportes.imprimir", "reportes.export_pdf"})


def _filters() -> consolidado.Filters:
    return consolidado.Filters.parse(request.args.get("zona"), request.args.get("comuna"),
                                     request.args.get("horizonte"))


def _now() -> datetime:
    """The request's moment: the kept body's key and what it draws read the same one."""
    if "consolidado_now" not in g:
        g.consolidado_now = utcnow()
    return g.consolidado_now


def _data() -> consolidado.Consolidado:
    """The consolidado under the address's filters, computed once per request."""
    if "consolidado" not in g:
        g.consolidado = consolidado.consolidate(
            db_session(), _actor(), _filters(), now=_now(),
            stalled_days=current_app.config["STALLED_DAYS"])
    return g.consolidado


def _summary() -> summary.Summary:
    """The page's figures from the per-Ruta aggregates, once per request."""
    if "consolidado_summary" not in g:
        g.consolidado_summary = summary.summarize(
            db_session(), _actor(), _filters(), now=_now(),
            stalled_days=current_app.config["STALLED_DAYS"],
            list_limit=_print_max() if _printing() else summary.LIST_LIMIT,
            token=g.get("consolidado_token"))
    return g.consolidado_summary


def _printing() -> bool:
    return request.endpoint in PRINT_ENDPOINTS


def _print_max() -> int:
    return int(current_app.config["PRINT_MAX_SCHOOLS"])


# ``?orden=`` → the columns the table sorts by (the database sorts: ``summary.table``).
TABLE_SORTS: dict[str, tuple[str, ...]] = {key: (key,) for key in summary.SORTS}

# How the printed table says its order: «ordenadas por días en el estado (descendente)».
SORT_LABELS = {"colegio": "institución", "comuna": "comuna o corregimiento",
               "estado": "estado", "dias": "días en el estado",
               "recordatorio": "último recordatorio", "avance": "avance del seguimiento"}


def _table(data: summary.Summary) -> tuple[summary.TablePage, Sort, summary.TableQuery]:
    """The page of the schools table the address asks for. Printing: every school up to
    ``PRINT_MAX_SCHOOLS``; above it only those that need the Comité's attention (PMI overdue
    or estancada), at most as many. A thousand rows are some thirty pages nobody reads in a
    meeting; the whole list is in the Excel and CSV exports, and the page says so."""
    sort = chosen_sort(TABLE_SORTS, Sort("colegio", descending=False))
    query = summary.TableQuery.parse(
        request.args.get("estado"), request.args.get("situacion"), sort.key, sort.descending,
        form_int(request.args.get("pagina")), current_app.config["QUEUE_PAGE_SIZE"])
    if _printing():
        every = data.schools_count <= _print_max()
        query = replace(query, estado=None, situacion=None if every else "atencion", page=1,
                        page_size=_print_max())
    assert data.scope is not None
    return (summary.table(db_session(), data.scope, query, schools=data.schools_count), sort,
            query)


def _sections(data: summary.Summary) -> dict[str, Any]:
    """The sections that feed the Secretaría's plan (metas por área, hallazgos, componentes,
    rubric, observations, final results): summed by the database from the per-comuna sums
    of the Rutas' counts (``section_read``), a few statements whatever the number of schools;
    memoised per version of the data (``summary.Summary.version``) in each process."""
    assert data.scope is not None
    scope = data.scope
    return summary.SECTIONS.get((_actor().secretaria_id, data.version),
                                lambda: section_read.sections(db_session(), scope,
                                                              data.funnel))


def _mode(data: summary.Summary) -> dict[str, Any]:
    """What the template needs on screen (``printable=False``) or on paper."""
    query = data.filters.as_query()
    if not _printing():
        return {"printable": False, "print_max": _print_max(),
                "chart_src": lambda name: url_for("reportes.chart", chart=name, **query)}

    def drawn(name: str) -> str:
        # Into the page as a data: URL: no request back to the server, same CSP (img-src
        # allows data:), and each SVG keeps its own ids.
        markup = _chart_markup(name, data) or ""
        return "data:image/svg+xml;base64," + base64.b64encode(markup.encode()).decode()

    actor = _actor()
    return {"printable": True, "chart_src": drawn, "generated_at": datetime.now(UTC),
            "secretaria": actor.secretaria.name, "print_max": _print_max(),
            "print_all": data.schools_count <= _print_max(),
            "print_attention": data.attention_count, "sort_labels": SORT_LABELS}


# Per process: the perfil and plan sections as the screen shows them, per (Secretaría,
# version of the data). They are most of the page's HTML (and of its rendering time) and a
# function of the data's version alone, as the sections' figures already are (``SECTIONS``).
PLAN_SECTIONS_HTML: Memo[Markup] = Memo(8)


def _plan_sections(data: summary.Summary, mode: dict[str, Any]) -> Markup:
    """The perfil municipal and the sections that feed the plan, rendered (on screen, once per
    version of the data; on paper each time: the charts are drawn into it)."""
    def render() -> Markup:
        return Markup(render_template("reportes/_plan_sections.html", data=data,  # noqa: S704
                                      levels=LEVELS, **_sections(data), **mode))
    if mode["printable"]:
        return render()
    return PLAN_SECTIONS_HTML.get((_actor().secretaria_id, data.version), render)


def _draw(jobs: bool) -> tuple[str, datetime | None]:
    """The page's body as the address asks for it, and until when it holds (``_changes_at``)."""
    data = _summary()
    table, sort, query = _table(data)
    mode = _mode(data)
    body = render_template("reportes/_index_body.html", data=data, zonas=list(Zona),
                           table=table.rows, table_total=table.total, table_query=query,
                           sort=sort, page=table.page, pages=table.pages,
                           states=STATE_ORDER, situations=summary.SITUATIONS,
                           horizons=horizon_choices(db_session(), _actor()),
                           sheet_labels=exports.SHEET_LABELS, jobs=jobs,
                           plan_sections=_plan_sections(data, mode), **mode)
    return body, data.changes_at


# Per process: the drawn body of /reportes/ (without its CSRF token), per key (``_body_key``),
# with the moment it stops holding. Each entry is one page of 100 KB.
BODIES: Memo[tuple[page_stamps.Body, datetime | None]] = scope_versions.memo(64)


def _body_key(token: str, jobs: bool) -> Hashable:
    """Everything the screen's body is drawn from besides the data the Secretaría's
    ``consolidado`` token watches (migration 0042): the day in Bogotá (days in the state,
    «PMI vencido»), the whole query string (filters, horizon, sort, page of the table), who
    looks (their scope), whether they have export jobs to link to, and where the app is
    mounted. The rest of the time (a Ruta becoming estancada) is the entry's end."""
    viewer = _actor()
    # In the address's order: with a name given twice the page reads the first value.
    return (viewer.secretaria_id, token, bogota_day(_now()),
            tuple(request.args.items(multi=True)), viewer.role, viewer.active,
            viewer.school_id, jobs, request.script_root)


def _body() -> Markup:
    """The screen's body kept per ``_body_key`` while it holds (``kept_while_current``: not
    this request's own writes either, as when the page refreshes missing aggregates itself,
    in a transaction never committed); printing draws it each time."""
    viewer, session = _actor(), db_session()
    jobs = bool(export_jobs.jobs_for(session, viewer, limit=5))
    current = (None if _printing() else scope_versions.version(
        session, viewer.secretaria_id, scope_versions.CONSOLIDADO))
    g.consolidado_token = current.token if current is not None else None
    if current is None:
        html, _ = _draw(jobs)
        return Markup(html)  # noqa: S704 (drawn by an autoescaped template)

    def drawn() -> tuple[page_stamps.Body, datetime | None]:
        html, until = _draw(jobs)
        return page_stamps.Body.of(html), until

    body = scope_versions.kept_while_current(
        BODIES, session, viewer.secretaria, scope_versions.CONSOLIDADO, current,
        _body_key(current.token, jobs), drawn, _now())
    return body.filled(csrf_token=generate_csrf(), new_form_token=new_token)


@bp.get("/")
@roles_required(*SECRETARIA_ROLES)
def index() -> str:
    return render_template("reportes/index.html", body=_body(), printable=_printing())


def _svg(markup: str) -> Response:
    response = Response(markup, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = FILE_CONTENT_SECURITY_POLICY
    return response


def _chart_markup(chart: str, data: summary.Summary) -> str | None:
    """The SVG of one of the page's charts; None for a name that is not one."""
    if chart == "embudo":
        return consolidado.funnel_chart(data.funnel)
    if chart not in CHARTS:
        return None
    areas = data.perfil.areas if data.perfil else []
    if chart == "areas":
        return averages_chart("Promedio municipal por área de gestión",
                              [Bar(area.name, area.tally.average) for area in areas])
    if chart == "procesos":
        return averages_chart(
            "Promedio municipal por proceso",
            [Bar(f"{proceso.code} {proceso.name}", proceso.tally.average)
             for area in areas for proceso in area.procesos])
    names = ({level: data.catalog.level_name(level) for level in LEVELS}
             if data.catalog else {})
    return levels_chart("Valoraciones en cada nivel, por área de gestión",
                        [(area.name, area.tally.counts, area.tally.unrated) for area in areas],
                        names)


CHARTS = frozenset({"embudo", "areas", "procesos", "niveles"})


@bp.get("/graficos/<chart>.svg")
@roles_required(*SECRETARIA_ROLES)
def chart(chart: str) -> Response:
    """A chart of the page, drawn from the aggregates, with an ETag (the data's version) and
    the time of the latest refresh: the browser asks again with If-None-Match and, while
    nothing changed, gets a 304 without anything being computed."""
    if chart not in CHARTS:
        abort(404)
    scope, _ = summary.scope_of(db_session(), _actor(), _filters(), now=datetime.now(UTC),
                                stalled_days=current_app.config["STALLED_DAYS"])
    version, latest = summary.chart_version(db_session(), scope)
    tag = f"{chart}-{version}"
    if request.if_none_match.contains(tag):
        response = Response(status=304)
    else:
        key = (_actor().secretaria_id, version, chart)
        response = _svg(summary.CHARTS.get(key, lambda: _chart_markup(chart, _summary())
                                           or ""))
    response.set_etag(tag)
    if latest is not None:
        response.last_modified = latest
    response.headers["Cache-Control"] = "private, no-cache"
    return response


# --- printing -----------------------------------------------------------------------------


@bp.get("/imprimir")
@roles_required(*SECRETARIA_ROLES)
def imprimir() -> str:
    """The consolidado to print: index()'s page in its printable mode (see ``_printing``)."""
    return index()


def _slug(text: str) -> str:
    """«Comuna 1 – Centro» → «comuna-1-centro»: a safe piece of a file name."""
    return re.sub(r"[^a-z0-9]+", "-", search_key(text)).strip("-")[:60].strip("-")


def pdf_name(data: summary.Summary | consolidado.Consolidado) -> str:
    """``consolidado-2024-2026-urbana-comuna-1.pdf``: the horizon and the filters applied."""
    parts = ["consolidado", _slug(data.horizon_label) or str(data.horizon_start_year)]
    if data.filters.zona is not None:
        parts.append(data.filters.zona.value)
    if data.filters.comuna and _slug(data.filters.comuna):
        parts.append(_slug(data.filters.comuna))
    return "-".join(parts) + ".pdf"


@bp.get("/consolidado.pdf")
@roles_required(*SECRETARIA_ROLES)
def export_pdf() -> Response:
    """The printable page made into a PDF here, by WeasyPrint: it reads the stylesheet (and
    nothing else) from the static folder on disk; the charts are already in the page."""
    html = index()
    # Imported here: WeasyPrint (and pango behind it) costs half a second to load, which
    # every process would pay at start-up (each gunicorn worker, each ``ruta`` command).
    from ruta.pdf import StaticOnlyFetcher, html_to_pdf

    fetcher = StaticOnlyFetcher(
        current_app.static_folder or "", origin=request.host_url,
        static_path=f"{request.script_root}{current_app.static_url_path}/")
    pdf = html_to_pdf(html, base_url=request.url, fetcher=fetcher)
    log_event("export", actor=_actor(), detail={"what": "consolidado.pdf",
                                                **_filters().as_query()})
    response = Response(pdf, mimetype="application/pdf")
    response.headers.set("Content-Disposition", "attachment", filename=pdf_name(_summary()))
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


@bp.get("/consolidado.xlsx")
@roles_required(*SECRETARIA_ROLES)
def export_xlsx() -> Response:
    """The Excel file is prepared by the scheduler, never in this worker: the address (kept
    for old links) leads to the page that queues it."""
    filters = _filters()
    flash("El Excel se prepara en segundo plano: pídalo aquí y siga su avance; puede cerrar "
          "la página y volver después.", "success")
    return redirect(url_for("reportes.exportaciones", **filters.as_query()))


@bp.get("/consolidado.csv")
@roles_required(*SECRETARIA_ROLES)
def export_csv() -> Response:
    slug = request.args.get("hoja", "instituciones")
    style = exports.csv_style(request.args.get("separador"))
    if slug not in exports.SHEET_LABELS or style is None:
        abort(404)
    session = db_session()
    scope = ExportScope(session, _actor(), _filters(), now=datetime.now(UTC),
                        stalled_days=current_app.config["STALLED_DAYS"])
    sheet = exports.sheet(session, scope, slug)
    if sheet is None:
        abort(404)
    log_event("export", actor=_actor(), detail={"what": f"consolidado-{slug}.csv",
                                                **_filters().as_query()})

    def lines() -> Iterator[bytes]:
        # The rows are read while the response is sent, after the request's teardown: the
        # session they use is released when the stream ends or the client goes away.
        try:
            yield from exports.csv_lines(sheet, style)
        finally:
            session.close()

    response = Response(stream_with_context(lines()), mimetype="text/csv")
    response.headers.set("Content-Disposition", "attachment",
                         filename=f"consolidado-{sheet.slug}-{_stamp()}.csv")
    return response


# --- background exports -------------------------------------------------------------------


def _folder() -> Path:
    return Path(current_app.config["EXPORT_FOLDER"])


@bp.get("/exportaciones")
@roles_required(*SECRETARIA_ROLES)
def exportaciones() -> str:
    filters = _filters()
    horizon = consolidado.horizon_of(db_session(), _actor(), filters)
    return render_template(
        "reportes/exportaciones.html", filters=filters, horizon=horizon,
        rutas=consolidado.count_rutas(db_session(), _actor(), filters),
        jobs=export_jobs.jobs_for(db_session(), _actor()),
        zona_label=export_jobs.zona_label, is_admin=_actor().role is Role.ADMINISTRADOR)


@bp.post("/exportaciones")
@roles_required(*SECRETARIA_ROLES)
def request_export() -> Response:
    filters = consolidado.Filters.parse(request.form.get("zona"), request.form.get("comuna"),
                                        request.form.get("horizonte"))
    job, created = export_jobs.request_export(db_session(), _actor(), filters, now=utcnow())
    commit_or_conflict()
    log_event("export", actor=_actor(), detail={"what": "exportacion solicitada",
                                                "job_id": job.id})
    # The scheduler writes it (``export_jobs.run_pending``, every 15 s): nothing runs here.
    if not created:
        flash("Ya había una exportación igual en preparación: esta es.", "success")
    return redirect(url_for("reportes.exportacion", job_id=job.id), code=303)


def _own_job(job_id: int) -> ExportJob | Response:
    job = export_jobs.get_job(db_session(), _actor(), job_id)
    if not export_jobs.may_open(_actor(), job):
        flash("Esa exportación la pidió otra persona: solo ella o la administración de la "
              "Secretaría pueden verla y descargarla. Puede pedir la suya aquí.", "error")
        return redirect(url_for("reportes.exportaciones", **job.filters.as_query()))
    return job


@bp.get("/exportaciones/<int:job_id>")
@roles_required(*SECRETARIA_ROLES)
def exportacion(job_id: int) -> Response | str:
    job = _own_job(job_id)
    if isinstance(job, Response):
        return job
    paused = request.args.get("pausa") == "1"
    available = export_jobs.file_path(_folder(), job) is not None
    response = Response(render_template(
        "reportes/exportacion.html", job=job, paused=paused, available=available,
        zona_label=export_jobs.zona_label, refresh=REFRESH_SECONDS))
    if job.status.pending and not paused:
        # Reloads the page (no script needed); "Dejar de actualizar" turns it off.
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/exportaciones/<int:job_id>/descarga")
@roles_required(*SECRETARIA_ROLES)
def exportacion_descarga(job_id: int) -> Response:
    job = _own_job(job_id)
    if isinstance(job, Response):
        return job
    path = export_jobs.file_path(_folder(), job)
    if path is None:
        flash("Ese archivo no está disponible: " + (
            "todavía se está preparando." if job.status.pending
            else "ya se borró o no se pudo preparar. Pida uno nuevo."), "error")
        return redirect(url_for("reportes.exportacion", job_id=job.id))
    log_event("export", actor=_actor(), detail={"what": "exportacion", "job_id": job.id})
    response = send_file(path, mimetype=XLSX, as_attachment=True,
                         download_name=job.download_name, conditional=False, etag=False,
                         max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response
