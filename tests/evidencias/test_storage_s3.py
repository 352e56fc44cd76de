"""Evidence in an S3-compatible bucket, against moto's S3 server over real HTTP on loopback.

moto's ``ThreadedMotoServer`` speaks the S3 protocol; our code talks to it through boto3 as
it would to AWS or MinIO. Nothing of ours is replaced.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from flask import Flask
from moto.server import ThreadedMotoServer
from sqlalchemy import select
from sqlalchemy.orm import Session

from blueprints.evidencias import storage
from ruta.config import ConfigError, check_production_safety, load_config
from tests.conftest import Factory, WebClient
from tests.evidencias.test_evidence import docx_bytes, rector_with_ruta, upload
from workflow.errors import NotFound
from workflow.evidencias.models import EvidenceFile
from workflow.evidencias.s3 import S3Storage
from workflow.roles import Role

BUCKET = "evidencias-prueba"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "prueba", "AWS_SECRET_ACCESS_KEY": "prueba-secreta",
               "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> str:
    """Credentials in the environment, as boto3 reads them in production; a fresh bucket."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    existing = [bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])]
    if BUCKET in existing:
        for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    else:
        client.create_bucket(Bucket=BUCKET)
    return s3_endpoint


def objects(endpoint: str) -> dict[str, bytes]:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"]: client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            for item in listed}


def test_put_open_delete_round_trip(s3_env: str) -> None:
    store = S3Storage(BUCKET, endpoint_url=s3_env, region="us-east-1")
    content = b"%PDF-1.4\n" + bytes(range(256)) * 8000  # about 2 MB: spooled to disk
    key = store.put(io.BytesIO(content))
    assert len(key) == 32 and int(key, 16) >= 0
    assert objects(s3_env) == {f"evidencias/{key}": content}
    with store.open(key) as blob:
        assert blob.read() == content
        blob.seek(0)
        assert blob.read(4) == b"%PDF"
    second = store.put(io.BytesIO(b"otro"))
    assert second != key
    store.delete(key)
    store.delete(key)  # twice: harmless
    assert set(objects(s3_env)) == {f"evidencias/{second}"}
    with pytest.raises(NotFound, match="ya no está disponible"):
        store.open(key)


def test_keys_that_are_not_generated_are_refused_before_any_request(s3_env: str) -> None:
    store = S3Storage(BUCKET, endpoint_url=s3_env, region="us-east-1", prefix="")
    store.put(io.BytesIO(b"dato"))
    for key in ("../../etc/passwd", "evidencias/x", "A" * 32, ""):
        with pytest.raises(NotFound):
            store.open(key)
        with pytest.raises(NotFound):
            store.delete(key)
    assert len(objects(s3_env)) == 1


def test_storage_is_chosen_by_configuration(app: Flask, s3_env: str) -> None:
    app.config.update(EVIDENCE_STORAGE="s3", S3_BUCKET=BUCKET, S3_ENDPOINT_URL=s3_env,
                      S3_REGION="us-east-1", S3_PREFIX="ie/")
    with app.app_context():
        chosen = storage()
        assert isinstance(chosen, S3Storage)
        assert (chosen.bucket, chosen.prefix) == (BUCKET, "ie/")
        assert storage() is chosen  # one client per app


def test_upload_through_the_web_and_download_identical_bytes(
        app: Flask, web_factory: Any, db: Session, make: Factory, s3_env: str,
        tmp_path: Any) -> None:
    app.config.update(EVIDENCE_STORAGE="s3", S3_BUCKET=BUCKET, S3_ENDPOINT_URL=s3_env,
                      S3_REGION="us-east-1", EVIDENCE_FOLDER=str(tmp_path / "no-se-usa"))
    ruta, rector = rector_with_ruta(db, make)
    revisor = make.user(Role.REVISOR, secretaria=ruta.school.secretaria)
    db.commit()
    uploader: WebClient = web_factory()
    uploader.login(rector.email)
    content = docx_bytes()
    response = upload(uploader, ruta, ruta.catalog.componentes[0].id, content, "Acta.docx")
    assert response.status_code == 302
    added = db.scalars(select(EvidenceFile)).one()
    assert objects(s3_env) == {f"evidencias/{added.storage_key}": content}
    assert not (tmp_path / "no-se-usa").exists()
    reader: WebClient = web_factory()
    reader.login(revisor.email)
    download = reader.client.get(f"/rutas/{ruta.id}/evidencias/{added.id}")
    body = download.get_data()
    download.close()
    assert download.status_code == 200
    assert body == content
    assert download.headers["Content-Length"] == str(len(content))
    # A refused file stores nothing in the bucket either.
    refused = upload(uploader, ruta, ruta.catalog.componentes[0].id, b"MZ" + b"\x00" * 64,
                     "programa.pdf")
    assert refused.status_code == 422
    assert len(objects(s3_env)) == 1


def test_config_reads_s3_settings_and_production_refuses_s3_without_bucket() -> None:
    env = {"RUTA_ENV": "production", "SECRET_KEY": "k" * 20 + "abcdefghijklmnop",
           "EVIDENCE_STORAGE": "S3", "S3_ENDPOINT_URL": "https://minio.ibague.gov.co",
           "S3_REGION": "us-east-1"}
    config = load_config(env)
    assert (config["EVIDENCE_STORAGE"], config["S3_BUCKET"], config["S3_ENDPOINT_URL"]) == (
        "s3", None, "https://minio.ibague.gov.co")
    with pytest.raises(ConfigError, match="EVIDENCE_STORAGE=s3 necesita S3_BUCKET"):
        check_production_safety(config)
    check_production_safety(load_config({**env, "S3_BUCKET": "evidencias"}))
    assert load_config({"RUTA_ENV": "development"})["EVIDENCE_STORAGE"] == "local"
    with pytest.raises(ConfigError, match="EVIDENCE_STORAGE debe ser una de: local, s3"):
        load_config({**env, "EVIDENCE_STORAGE": "ftp"})
