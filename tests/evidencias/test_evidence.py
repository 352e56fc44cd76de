"""Evidence files: type by content, size limit (413 before reading), quota, names, scope."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from blueprints.evidencias import FORM_OVERHEAD
from tests.conftest import Factory, WebClient
from workflow.autoevaluacion.models import Valoracion
from workflow.errors import InvalidInput
from workflow.evidencias import storage as evidence
from workflow.evidencias.models import DOCX, JPEG, ODT, PDF, PNG, XLSX, EvidenceFile, FileType
from workflow.evidencias.storage import Limits, LocalStorage, TooLarge, sniff, store_file
from workflow.models import Ruta
from workflow.roles import Role
from workflow.states import State

# --- real small files, built here ---------------------------------------------------------

PDF_BYTES = (b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
             b"2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n"
             b"trailer <</Root 1 0 R>>\n%%EOF\n")


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>')


def docx_bytes(content_types: str = CONTENT_TYPES) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", "<Relationships/>")
        archive.writestr("word/document.xml",
                         '<w:document xmlns:w="http://schemas.openxmlformats.org/'
                         'wordprocessingml/2006/main"><w:body/></w:document>')
    return buffer.getvalue()


def xlsx_bytes() -> bytes:
    workbook = Workbook()
    workbook.active.append(["Acta", 3])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def odt_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text",
                         compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", "<office:document-content/>")
    return buffer.getvalue()


def plain_zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("leame.txt", "no soy un documento de oficina")
    return buffer.getvalue()


EXECUTABLE_BYTES = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
ELF_BYTES = b"\x7fELF\x02\x01\x01" + b"\x00" * 64


# --- sniffing -----------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "expected"), [
    (PDF_BYTES, PDF),
    (png_bytes(), PNG),
    (JPEG_BYTES, JPEG),
    (docx_bytes(), DOCX),
    (xlsx_bytes(), XLSX),
    (odt_bytes(), ODT),
])
def test_sniff_allowed_content_is_recognised(content: bytes, expected: FileType) -> None:
    assert sniff(io.BytesIO(content)) == expected


@pytest.mark.parametrize("content", [
    EXECUTABLE_BYTES, ELF_BYTES, plain_zip_bytes(), b"<html><script>alert(1)</script></html>",
    b"PK\x03\x04 not really a zip", docx_bytes(CONTENT_TYPES.replace(
        "wordprocessingml.document.main", "wordprocessingml.document.macroEnabled.main")),
    b"",
])
def test_sniff_other_content_is_refused(content: bytes) -> None:
    assert sniff(io.BytesIO(content)) is None


@pytest.mark.parametrize("name", [
    "../../etc/passwd.pdf", "/etc/acta.pdf", "C:\\actas\\acta.pdf", "carpeta\\acta.pdf",
    "acta\x00.pdf", "..", "actas/2024.pdf", "C:acta.pdf", "acta\n.pdf",
])
def test_display_name_path_like_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        evidence.display_name(name)
    assert "no puede ser una ruta" in refused.value.message


def test_display_name_keeps_accents_and_spaces() -> None:
    assert evidence.display_name("  Acta de reunión nº 3.pdf ") == "Acta de reunión nº 3.pdf"


# --- the service --------------------------------------------------------------------------


def stored_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() \
        else []


def test_store_file_keeps_blob_under_generated_name(db: Session, make: Factory,
                                                    tmp_path: Path) -> None:
    ruta = make.ruta()
    storage = LocalStorage(tmp_path / "blobs")
    added = store_file(db, storage, ruta=ruta, uploaded_by=None, filename="informe.pdf",
                       stream=io.BytesIO(PDF_BYTES), limits=Limits())
    files = stored_files(tmp_path / "blobs")
    assert [path.name for path in files] == [added.storage_key]
    assert files[0].read_bytes() == PDF_BYTES
    assert "informe" not in str(files[0])
    assert (added.display_name, added.content_type, added.size, added.school_id) == (
        "informe.pdf", "application/pdf", len(PDF_BYTES), ruta.school_id)
    import hashlib
    assert added.sha256 == hashlib.sha256(PDF_BYTES).hexdigest()


def test_store_file_executable_named_pdf_stores_nothing(db: Session, make: Factory,
                                                        tmp_path: Path) -> None:
    ruta = make.ruta()
    with pytest.raises(InvalidInput) as refused:
        store_file(db, LocalStorage(tmp_path / "blobs"), ruta=ruta, uploaded_by=None,
                   filename="acta.pdf", stream=io.BytesIO(EXECUTABLE_BYTES), limits=Limits())
    assert "no es de un tipo permitido" in refused.value.message
    assert stored_files(tmp_path / "blobs") == []
    assert db.scalar(select(func.count()).select_from(EvidenceFile)) == 0


def test_store_file_over_limit_reads_only_up_to_limit(db: Session, make: Factory,
                                                      tmp_path: Path) -> None:
    ruta = make.ruta()

    class Endless(io.RawIOBase):
        read_so_far = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            self.read_so_far += len(buffer)
            buffer[:] = b"%" * len(buffer)
            return len(buffer)

    endless = Endless()
    with pytest.raises(TooLarge):
        store_file(db, LocalStorage(tmp_path / "blobs"), ruta=ruta, uploaded_by=None,
                   filename="a.pdf",
                   stream=io.BufferedReader(endless), limits=Limits(max_bytes=100_000))
    assert endless.read_so_far <= 100_000 + 2 * evidence.CHUNK
    assert stored_files(tmp_path / "blobs") == []


def test_store_file_over_quota_stores_nothing(db: Session, make: Factory,
                                              tmp_path: Path) -> None:
    ruta = make.ruta()
    storage = LocalStorage(tmp_path / "blobs")
    limits = Limits(quota_bytes=len(PDF_BYTES) * 2 - 1)
    first = store_file(db, storage, ruta=ruta, uploaded_by=None, filename="a.pdf",
                       stream=io.BytesIO(PDF_BYTES), limits=limits)
    with pytest.raises(TooLarge) as refused:
        store_file(db, storage, ruta=ruta, uploaded_by=None, filename="b.pdf",
                   stream=io.BytesIO(PDF_BYTES), limits=limits)
    assert "no cabe" in refused.value.message
    assert [path.name for path in stored_files(tmp_path / "blobs")] == [first.storage_key]
    # Another school has its own quota.
    store_file(db, storage, ruta=make.ruta(), uploaded_by=None, filename="b.pdf",
               stream=io.BytesIO(PDF_BYTES), limits=limits)
    assert len(stored_files(tmp_path / "blobs")) == 2


def test_local_storage_refuses_keys_that_are_not_generated(tmp_path: Path) -> None:
    from workflow.errors import NotFound

    with pytest.raises(NotFound):
        LocalStorage(tmp_path / "blobs").open("../../etc/passwd")


# --- the views ------------------------------------------------------------------------------


@pytest.fixture
def folder(app: Flask, tmp_path: Path) -> Path:
    path = tmp_path / "evidencias"
    app.config["EVIDENCE_FOLDER"] = str(path)
    return path


def rector_with_ruta(db: Session, make: Factory) -> tuple[Ruta, Any]:
    ruta = make.completed_self_assessment(make.ruta(state=State.BORRADOR))
    rector = make.user(Role.RECTOR, school=ruta.school)
    db.commit()
    return ruta, rector


def upload(web: WebClient, ruta: Ruta, componente_id: int, content: bytes,
           name: str = "acta.pdf") -> Any:
    # Encoded in memory: the test client would spool a big body to a file it never closes.
    boundary, body = encode_multipart({
        "csrf_token": web.token, "componente": str(componente_id),
        "archivo": FileStorage(io.BytesIO(content), filename=name,
                               content_type="application/octet-stream")})
    return web.client.post(f"/rutas/{ruta.id}/evidencias", data=body,
                           content_type=f'multipart/form-data; boundary="{boundary}"')


def test_upload_attaches_file_and_area_lists_it(web: WebClient, db: Session, make: Factory,
                                               folder: Path) -> None:
    ruta, rector = rector_with_ruta(db, make)
    componente = ruta.catalog.componentes[0]
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/autoevaluacion/areas/DIR")
    response = upload(web, ruta, componente.id, docx_bytes(), "Acta de reunión.docx")
    assert response.status_code == 302
    assert response.headers["Location"] == (
        f"/rutas/{ruta.id}/autoevaluacion/areas/DIR#archivos-{componente.id}")
    added = db.scalars(select(EvidenceFile)).one()
    valoracion = db.get(Valoracion, added.valoracion_id)
    assert (valoracion.ruta_id, valoracion.componente_id) == (ruta.id, componente.id)
    assert added.content_type == DOCX.mime
    page = web.get(f"/rutas/{ruta.id}/autoevaluacion/areas/DIR").get_data(as_text=True)
    assert f'href="/rutas/{ruta.id}/evidencias/{added.id}">Acta de reunión.docx</a>' in page
    assert 'enctype="multipart/form-data"' in page


def test_upload_for_componente_without_valoracion_creates_unrated_one(
        web: WebClient, db: Session, make: Factory, folder: Path) -> None:
    ruta = make.ruta(state=State.BORRADOR, catalog=make.catalog())
    rector = make.user(Role.RECTOR, school=ruta.school)
    db.commit()
    componente = ruta.catalog.componentes[2]
    web.login(rector.email)
    assert upload(web, ruta, componente.id, png_bytes(), "foto.png").status_code == 302
    valoracion = db.scalars(select(Valoracion)).one()
    assert (valoracion.componente_id, valoracion.level) == (componente.id, None)


@pytest.mark.parametrize(("content", "name", "message"), [
    (EXECUTABLE_BYTES, "acta.pdf", "no es de un tipo permitido"),
    (plain_zip_bytes(), "acta.docx", "no es de un tipo permitido"),
    (PDF_BYTES, "../../acta.pdf", "no puede ser una ruta"),
    (PDF_BYTES, "C:\\acta.pdf", "no puede ser una ruta"),
])
def test_upload_bad_file_is_422_and_stores_nothing(web: WebClient, db: Session, make: Factory,
                                                   folder: Path, content: bytes, name: str,
                                                   message: str) -> None:
    ruta, rector = rector_with_ruta(db, make)
    web.login(rector.email)
    response = upload(web, ruta, ruta.catalog.componentes[0].id, content, name)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(EvidenceFile)) == 0
    assert stored_files(folder) == []


class ExplodingBody(io.RawIOBase):
    """A body of ``size`` bytes that fails the test if anyone reads it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = self.size + offset if whence == 2 else offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body was read")


def test_upload_announced_over_limit_is_413_before_reading(app: Flask, web: WebClient,
                                                           db: Session, make: Factory,
                                                           folder: Path) -> None:
    app.config["EVIDENCE_MAX_BYTES"] = 1000
    ruta, rector = rector_with_ruta(db, make)
    web.login(rector.email)
    response = web.client.post(
        f"/rutas/{ruta.id}/evidencias", input_stream=ExplodingBody(1000 + FORM_OVERHEAD + 1),
        content_type="multipart/form-data; boundary=limite",
        headers={"X-CSRFToken": web.token})
    assert response.status_code == 413
    assert "supera el límite de 0,0 MB" in response.get_data(as_text=True)
    assert stored_files(folder) == []


def test_upload_above_app_wide_limit_but_within_evidence_limit_is_accepted(
        app: Flask, web: WebClient, db: Session, make: Factory, folder: Path) -> None:
    # The app-wide limit (2 MiB) does not apply to evidence: 3 MiB passes with 10 MiB allowed.
    ruta, rector = rector_with_ruta(db, make)
    web.login(rector.email)
    big = PDF_BYTES + b"%" * (3 * 1024 * 1024)
    response = upload(web, ruta, ruta.catalog.componentes[0].id, big)
    assert response.status_code == 302
    assert db.scalars(select(EvidenceFile.size)).one() == len(big)


def test_upload_file_over_limit_is_413_and_stores_nothing(app: Flask, web: WebClient,
                                                          db: Session, make: Factory,
                                                          folder: Path) -> None:
    app.config["EVIDENCE_MAX_BYTES"] = 1000
    ruta, rector = rector_with_ruta(db, make)
    web.login(rector.email)
    response = upload(web, ruta, ruta.catalog.componentes[0].id, PDF_BYTES + b"%" * 1000)
    assert response.status_code == 413
    assert "supera el límite" in response.get_data(as_text=True)
    assert stored_files(folder) == []


def test_upload_over_school_quota_is_413(app: Flask, web: WebClient, db: Session,
                                         make: Factory, folder: Path) -> None:
    app.config["EVIDENCE_QUOTA_BYTES_PER_SCHOOL"] = len(PDF_BYTES) + 10
    ruta, rector = rector_with_ruta(db, make)
    web.login(rector.email)
    componente_id = ruta.catalog.componentes[0].id
    assert upload(web, ruta, componente_id, PDF_BYTES).status_code == 302
    response = upload(web, ruta, componente_id, PDF_BYTES)
    assert response.status_code == 413
    assert "no cabe" in response.get_data(as_text=True)
    assert len(stored_files(folder)) == 1
    assert db.scalar(select(func.count()).select_from(EvidenceFile)) == 1


def test_upload_after_submission_is_refused(web: WebClient, db: Session, make: Factory,
                                            folder: Path) -> None:
    ruta = make.completed_self_assessment(make.ruta(state=State.AUTOEVALUACION_ENVIADA))
    rector = make.user(Role.RECTOR, school=ruta.school)
    db.commit()
    web.login(rector.email)
    response = upload(web, ruta, ruta.catalog.componentes[0].id, PDF_BYTES)
    assert response.status_code == 409
    assert stored_files(folder) == []


def test_upload_without_csrf_is_400(web: WebClient, db: Session, make: Factory,
                                    folder: Path) -> None:
    ruta, rector = rector_with_ruta(db, make)
    web.login(rector.email)
    response = web.post(f"/rutas/{ruta.id}/evidencias",
                        {"componente": str(ruta.catalog.componentes[0].id),
                         "archivo": (io.BytesIO(PDF_BYTES), "acta.pdf")},
                        csrf=False, content_type="multipart/form-data")
    assert response.status_code == 400
    assert stored_files(folder) == []


def download(client: WebClient, url: str) -> Any:
    """GET a download, read it and close it (the view streams from an open file)."""
    response = client.client.get(url)
    response.get_data()
    response.close()
    return response


def test_download_is_attachment_with_sniffed_type(web_factory: Any, db: Session,
                                                  make: Factory, folder: Path) -> None:
    ruta, rector = rector_with_ruta(db, make)
    revisor = make.user(Role.REVISOR, secretaria=ruta.school.secretaria)
    db.commit()
    uploader = web_factory()
    uploader.login(rector.email)
    # Named .docx, but it is a PDF: served as what it is, with the right extension added.
    upload(uploader, ruta, ruta.catalog.componentes[0].id, PDF_BYTES, "Acta final.docx")
    added = db.scalars(select(EvidenceFile)).one()
    reader = web_factory()
    reader.login(revisor.email)
    response = download(reader, f"/rutas/{ruta.id}/evidencias/{added.id}")
    assert response.status_code == 200
    assert response.get_data() == PDF_BYTES
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="Acta final.docx.pdf"')
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Length"] == str(len(PDF_BYTES))
    assert "no-store" in response.headers["Cache-Control"]


def test_download_non_ascii_name_has_utf8_filename(web: WebClient, db: Session,
                                                   make: Factory, folder: Path) -> None:
    ruta, rector = rector_with_ruta(db, make)
    web.login(rector.email)
    upload(web, ruta, ruta.catalog.componentes[0].id, PDF_BYTES, "Reunión.pdf")
    added = db.scalars(select(EvidenceFile)).one()
    response = download(web, f"/rutas/{ruta.id}/evidencias/{added.id}")
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=Reunion.pdf; filename*=UTF-8''Reuni%C3%B3n.pdf")


def test_download_of_other_school_is_404(web_factory: Any, db: Session, make: Factory,
                                         folder: Path) -> None:
    ruta, rector = rector_with_ruta(db, make)
    other_ruta, other_rector = rector_with_ruta(db, make)
    uploader = web_factory()
    uploader.login(rector.email)
    upload(uploader, ruta, ruta.catalog.componentes[0].id, PDF_BYTES)
    added = db.scalars(select(EvidenceFile)).one()
    outsider = web_factory()
    outsider.login(other_rector.email)
    assert download(outsider, f"/rutas/{ruta.id}/evidencias/{added.id}").status_code == 404
    # Its own Ruta's id with the other school's file id: still 404.
    assert download(outsider,
                    f"/rutas/{other_ruta.id}/evidencias/{added.id}").status_code == 404


def test_config_evidence_limits_default_and_from_environment() -> None:
    from ruta.config import PROJECT_ROOT, load_config

    defaults = load_config({}, mode="development")
    assert (defaults["EVIDENCE_MAX_BYTES"], defaults["EVIDENCE_QUOTA_BYTES_PER_SCHOOL"],
            defaults["EVIDENCE_FOLDER"], defaults["STALLED_DAYS"]) == (
        10 * 1024 * 1024, 500 * 1024 * 1024, str(PROJECT_ROOT / "instance" / "evidencias"), 30)
    given = load_config({"EVIDENCE_MAX_BYTES": "2048", "EVIDENCE_QUOTA_BYTES_PER_SCHOOL": "4096",
                         "EVIDENCE_FOLDER": "/srv/evidencias", "STALLED_DAYS": "45"},
                        mode="development")
    assert (given["EVIDENCE_MAX_BYTES"], given["EVIDENCE_QUOTA_BYTES_PER_SCHOOL"],
            given["EVIDENCE_FOLDER"], given["STALLED_DAYS"]) == (2048, 4096, "/srv/evidencias",
                                                                 45)
