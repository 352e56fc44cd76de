"""Health for operators (issue 16, items 4 and 8): /salud part by part, /metricas in
Prometheus' format for the allowed addresses only, the scheduler's heartbeat, and uploads that
leave no half-written file behind."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from jobs.scheduler import heartbeat_job
from ruta import create_app
from ruta.config import ConfigError, load_config
from tests.conftest import app_config
from tests.core.test_outbox import CONTEXT
from workflow import outbox
from workflow.errors import Unavailable
from workflow.evidencias.storage import LocalStorage
from workflow.horizontes.models import JobRun, SchedulerHeartbeat
from workflow.models import OutboxMessage, OutboxStatus, Secretaria, utcnow


@pytest.fixture
def ops(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = create_app(app_config(database_url,
                                        EVIDENCE_FOLDER=str(tmp_path / "evidencias")))
    yield application
    application.extensions["ruta_db"].dispose()


def session_of(app: Flask) -> Session:
    return app.extensions["ruta_db"].session_factory()  # type: ignore[no-any-return]


def test_salud_tells_each_part_and_a_stopped_scheduler_degrades_without_failing(
        ops: Flask) -> None:
    client = ops.test_client()
    never = client.get("/salud")
    heartbeat_job(ops)
    alive = client.get("/salud")
    with session_of(ops) as session:
        beat = session.get(SchedulerHeartbeat, 1)
        assert beat is not None and beat.pid == os.getpid()
        beat.beat_at = utcnow() - timedelta(minutes=5)
        session.commit()
    stopped = client.get("/salud")

    assert never.status_code == 200
    assert never.get_json()["programador"] == {"estado": "nunca ha corrido"}
    assert (alive.status_code, alive.get_json()["estado"]) == (200, "ok")
    assert alive.get_json()["programador"]["estado"] == "ok"
    assert alive.headers["Cache-Control"] == "no-store"
    assert stopped.status_code == 200
    assert stopped.get_json()["estado"] == "degradado"
    assert stopped.get_json()["programador"]["estado"] == "detenido"
    assert stopped.get_json()["programador"]["segundos_desde_el_ultimo_latido"] >= 299


def test_salud_answers_503_with_retry_after_when_the_evidence_folder_cannot_be_written(
        database_url: str, tmp_path: Path) -> None:
    blocked = tmp_path / "no-es-carpeta"
    blocked.write_text("un archivo donde debería haber una carpeta")
    app = create_app(app_config(database_url, EVIDENCE_FOLDER=str(blocked)))
    try:
        response = app.test_client().get("/salud")
    finally:
        app.extensions["ruta_db"].dispose()

    assert (response.status_code, response.headers["Retry-After"]) == (503, "30")
    body = response.get_json()
    assert body["estado"] == "no disponible"
    assert body["base_de_datos"] == {"estado": "ok"}
    assert body["almacenamiento"]["estado"].startswith(
        "no se puede escribir en la carpeta de evidencias")


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_metricas_give_the_outbox_exports_daily_pass_heartbeat_and_latencies(
        ops: Flask) -> None:
    with session_of(ops) as session:
        secretaria = Secretaria(name="Secretaría de Prueba", divipola="73001",
                                horizon_start_year=2024, horizon_years=3)
        session.add(secretaria)
        session.flush()
        for number in range(3):
            outbox.enqueue(session, kind="ruta_devuelta", to=[f"r{number}@prueba.co"],
                           context=CONTEXT, dedupe_key=f"m:{number}",
                           secretaria_id=secretaria.id)
        session.flush()
        sent = session.query(OutboxMessage).filter_by(dedupe_key="m:0").one()
        sent.status, sent.sent_at = OutboxStatus.SENT, utcnow()
        finished = utcnow() - timedelta(hours=2)
        session.add(JobRun(job="recordatorios", day=finished.date(), started_at=finished,
                           finished_at=finished))
        session.commit()
    heartbeat_job(ops)
    client = ops.test_client()
    client.get("/ingresar")
    client.get("/ingresar")

    allowed = client.get("/metricas")
    figures = metrics(allowed.get_data(as_text=True))
    from_elsewhere = client.get("/metricas", environ_base={"REMOTE_ADDR": "10.1.2.3"})

    assert allowed.status_code == 200
    assert allowed.mimetype == "text/plain"
    assert figures[("ruta_outbox_messages", (("status", "pending"),))] == 2
    assert figures[("ruta_outbox_messages", (("status", "sent"),))] == 1
    assert figures[("ruta_outbox_messages", (("status", "unknown"),))] == 0
    assert figures[("ruta_export_jobs", (("status", "queued"),))] == 0
    assert abs(figures[("ruta_daily_pass_last_finished_timestamp_seconds", ())]
               - finished.timestamp()) < 1
    assert 0 <= figures[("ruta_scheduler_heartbeat_age_seconds", ())] < 60
    assert figures[("ruta_request_duration_seconds_count",
                    (("method", "GET"), ("route", "/ingresar"), ("status", "2xx")))] >= 2
    assert from_elsewhere.status_code == 404


def test_metricas_addresses_are_checked_when_the_service_starts() -> None:
    assert load_config({"METRICS_ALLOWED_ADDRESSES": "10.0.0.0/8, 192.168.1.7"},
                       mode="development")["METRICS_ALLOWED_ADDRESSES"] == (
        "10.0.0.0/8", "192.168.1.7")
    assert load_config({"METRICS_ALLOWED_ADDRESSES": ""},
                       mode="development")["METRICS_ALLOWED_ADDRESSES"] == ()
    with pytest.raises(ConfigError, match="«prometheus.local» no lo es"):
        load_config({"METRICS_ALLOWED_ADDRESSES": "127.0.0.1,prometheus.local"},
                    mode="development")


class FullDisk(io.BytesIO):
    """A stream whose copy fails half-way, as a disk that fills up does."""

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() > 0:
            raise OSError(28, "No space left on device")
        return super().read(4)


def test_a_failed_write_leaves_no_partial_file_and_old_partials_are_swept(
        tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    with pytest.raises(Unavailable, match="almacenamiento de evidencias no está disponible") \
            as refused:
        store.put(FullDisk(b"%PDF-1.7 un acta larga"))
    assert isinstance(refused.value.__cause__, OSError)
    left_by_failure = list(tmp_path.rglob("*.part"))
    # What a killed process leaves: one partial from yesterday, one being written now.
    (tmp_path / "ab").mkdir(exist_ok=True)
    old, fresh = tmp_path / "ab" / ".abc.part", tmp_path / "ab" / ".def.part"
    old.write_bytes(b"a medias")
    fresh.write_bytes(b"escribiendose")
    yesterday = time.time() - 86400
    os.utime(old, (yesterday, yesterday))
    stored = store.put(io.BytesIO(b"%PDF-1.7 acta completa"))

    swept = store.sweep_partials(older_than=3600, now=time.time())

    assert left_by_failure == []
    assert swept == 1
    assert not old.exists() and fresh.exists()
    with store.open(stored) as content:
        assert content.read() == b"%PDF-1.7 acta completa"


def test_the_service_sweeps_old_partials_when_it_starts(database_url: str,
                                                        tmp_path: Path) -> None:
    folder = tmp_path / "evidencias" / "ab"
    folder.mkdir(parents=True)
    old = folder / ".abc.part"
    old.write_bytes(b"a medias")
    os.utime(old, (time.time() - 7200, time.time() - 7200))

    app = create_app(app_config(database_url, EVIDENCE_FOLDER=str(tmp_path / "evidencias")))
    app.extensions["ruta_db"].dispose()

    assert not old.exists()
