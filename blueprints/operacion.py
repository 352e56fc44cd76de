"""For the people who run the service: /salud (each part's state, JSON, for a load balancer
or a monitor) and /metricas (Prometheus' text format, for its scraper).

/salud is public and says only states: 200 while the web service can work (database and
evidence storage), 503 with ``Retry-After`` when it cannot; a stopped scheduler makes it
«degradado» (mail and reminders wait) but still 200. /metricas answers only the addresses in
``METRICS_ALLOWED_ADDRESSES`` (a 404 to anyone else): request latency per route, the outbox
by status and the age of its oldest waiting message, background exports by status, the last
daily pass, the scheduler's heartbeat. Under gunicorn with several workers, set
``PROMETHEUS_MULTIPROC_DIR`` to an empty folder before starting it, so the latencies of every
worker are summed (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import ipaddress
import os
import time

from flask import Blueprint, Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from blueprints.access import public
from blueprints.evidencias import storage
from ruta.db import db_session
from ruta.security import client_address
from workflow.models import utcnow
from workflow.operacion import health as checks

bp = Blueprint("operacion", __name__)

RETRY_AFTER_SECONDS = 30
REQUEST_SECONDS = Histogram(
    "ruta_request_duration_seconds", "Tiempo de respuesta de cada solicitud, por ruta.",
    ["method", "route", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))


@bp.before_app_request
def _start_clock() -> None:
    g.request_started = time.perf_counter()


@bp.after_app_request
def _time_request(response: Response) -> Response:
    started = g.get("request_started")
    if started is not None and request.endpoint != "operacion.metrics":
        # The route's pattern, never the address typed: a bounded set of labels.
        route = request.url_rule.rule if request.url_rule is not None else "(sin ruta)"
        REQUEST_SECONDS.labels(request.method, route, f"{response.status_code // 100}xx") \
            .observe(time.perf_counter() - started)
    return response


@bp.get("/salud")
@public
def health() -> tuple[dict[str, object], int, dict[str, str]]:
    state = checks.health(db_session(), storage(), utcnow())
    headers = {"Cache-Control": "no-store"}
    if not state.serving:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return state.as_json(), 503, headers
    return state.as_json(), 200, headers


def _allowed(address: str) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(client in ipaddress.ip_network(item, strict=False)
               for item in current_app.config["METRICS_ALLOWED_ADDRESSES"])


def _figures_registry() -> CollectorRegistry:
    figures = checks.figures(db_session(), utcnow())
    registry = CollectorRegistry(auto_describe=False)
    outbox = GaugeMetricFamily("ruta_outbox_messages", "Mensajes del correo saliente, por "
                               "estado.", labels=["status"])
    for status, count in figures.outbox.items():
        outbox.add_metric([status.value], count)
    exports = GaugeMetricFamily("ruta_export_jobs", "Exportaciones en segundo plano, por "
                                "estado.", labels=["status"])
    for status, count in figures.exports.items():
        exports.add_metric([status.value], count)
    families = [outbox, exports]
    for name, text, moment in (
            ("ruta_outbox_oldest_pending_timestamp_seconds",
             "Cuándo se encoló el mensaje más antiguo que espera envío.", figures.oldest_pending),
            ("ruta_daily_pass_last_finished_timestamp_seconds",
             "Cuándo terminó la última pasada diaria.", figures.last_daily_pass)):
        if moment is not None:
            families.append(GaugeMetricFamily(name, text, value=moment.timestamp()))
    if figures.heartbeat_age is not None:
        families.append(GaugeMetricFamily(
            "ruta_scheduler_heartbeat_age_seconds",
            "Segundos desde el último latido del programador de tareas.",
            value=figures.heartbeat_age))

    class Snapshot:
        def collect(self) -> list[GaugeMetricFamily]:
            return families

    registry.register(Snapshot())  # type: ignore[arg-type]
    return registry


def _requests_registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


@bp.get("/metricas")
@public
def metrics() -> Response:
    if not _allowed(client_address()):
        abort(404)
    body = generate_latest(_figures_registry()) + generate_latest(_requests_registry())
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Cache-Control": "no-store"})
