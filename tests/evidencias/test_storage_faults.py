"""Storage that fails cleanly (issue 16, item 4): a disk that fills up mid-upload (a real one:
a 96 KB tmpfs in a private mount namespace) and an S3 endpoint nobody answers give a Spanish
503 with ``Retry-After``; nothing is stored, no half file stays, and the form comes back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from tests.evidencias.test_evidence import PDF_BYTES, rector_with_ruta, upload
from tests.smtp import closed_port
from workflow.evidencias.models import EvidenceFile

PROJECT = Path(__file__).resolve().parents[2]
FULL_DISK = """
import json, sys
from sqlalchemy import func, select
from ruta import create_app
from tests.conftest import Factory, WebClient, app_config
from tests.evidencias.test_evidence import PDF_BYTES, rector_with_ruta, upload
from workflow.evidencias.models import EvidenceFile

database, folder = sys.argv[1], sys.argv[2]
app = create_app(app_config(database, EVIDENCE_FOLDER=folder))
db = app.extensions["ruta_db"].session_factory()
ruta, rector = rector_with_ruta(db, Factory(db))
web = WebClient(app.test_client())
web.login(rector.email)
componente = ruta.catalog.componentes[0].id
fits = upload(web, ruta, componente, PDF_BYTES + b"%" * 20_000, "acta.pdf")
full = upload(web, ruta, componente, PDF_BYTES + b"%" * 200_000, "informe-grande.pdf")
db.expire_all()
print(json.dumps({
    "fits": fits.status_code, "full": full.status_code,
    "retry_after": full.headers.get("Retry-After"), "page": full.get_data(as_text=True),
    "rows": db.scalar(select(func.count()).select_from(EvidenceFile)),
}))
db.close()
app.extensions["ruta_db"].dispose()
"""


def namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def test_a_disk_that_fills_up_mid_upload_answers_503_and_leaves_nothing_behind(
        database_url: str, tmp_path: Path) -> None:
    if not namespaces_work() and os.environ.get("CI") != "true":
        pytest.skip("this machine cannot make a private mount namespace (unshare -m) for "
                    "the small full disk")
    folder = tmp_path / "evidencias"
    folder.mkdir()
    # The tmpfs exists only inside the namespace: the rest of the machine never sees it.
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c",
         f'mount -t tmpfs -o size=96k tmpfs "{folder}" && exec "$0" -c "$1" "$2" "$3"',
         sys.executable, FULL_DISK, database_url, str(folder)],
        cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)}, capture_output=True,
        text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert result["fits"] == 302
    assert (result["full"], result["retry_after"]) == (503, "30")
    assert "No se pudo guardar el archivo: el almacenamiento de evidencias no está " \
           "disponible en este momento (por ejemplo, está lleno)." in result["page"]
    # The form comes back to send again; the file itself cannot be carried, and it says so.
    assert 'name="componente" value="' in result["page"]
    assert "Los archivos adjuntos no se pudieron conservar" in result["page"]
    assert "archivo" in result["page"]
    assert result["rows"] == 1  # only the file that fit
    # Outside the namespace the folder is the empty one it was: nothing leaked out either.
    assert list(folder.rglob("*")) == []


def test_an_s3_endpoint_nobody_answers_gives_503_and_stores_nothing(
        app: Flask, web: WebClient, db: Session, make: Factory, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "prueba")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "prueba")
    app.config.update(EVIDENCE_STORAGE="s3", S3_BUCKET="evidencias-ruta",
                      S3_ENDPOINT_URL=f"http://127.0.0.1:{closed_port()}",
                      S3_REGION="us-east-1", EVIDENCE_FOLDER=str(tmp_path / "no-se-usa"))
    ruta, rector = rector_with_ruta(db, make)
    web.login(rector.email)

    response = upload(web, ruta, ruta.catalog.componentes[0].id, PDF_BYTES, "acta.pdf")
    health = web.client.get("/salud")

    page = response.get_data(as_text=True)
    assert (response.status_code, response.headers["Retry-After"]) == (503, "30")
    assert "No se pudo guardar el archivo" in page
    assert "Intentar de nuevo" in page
    assert db.scalar(select(func.count()).select_from(EvidenceFile)) == 0
    assert health.status_code == 503
    assert health.get_json()["almacenamiento"]["estado"].startswith(
        "el bucket de evidencias no responde")
