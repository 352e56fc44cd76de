"""Files that pass as documents but are not safe ones (issue 15, E24 and S26, and the file-type
judgement at its boundaries): macros in OOXML and ODF packages are refused by content,
bidi controls never reach a display name, a package without its main part or with an
invented ODF ``mimetype`` is not a document."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from tests.core.test_race import run_together
from tests.evidencias.test_evidence import (
    CONTENT_TYPES,
    PDF_BYTES,
    docx_bytes,
    odt_bytes,
    rector_with_ruta,
    upload,
    xlsx_bytes,
)
from workflow.evidencias.models import DOCX, ODS, ODT, XLSX, EvidenceFile
from workflow.evidencias.storage import Limits, LocalStorage, display_name, sniff, store_file
from workflow.models import Ruta

VBA_TYPE = ('<Override PartName="/word/vbaProject.bin" '
            'ContentType="application/vnd.ms-office.vbaProject"/>')


def with_member(package: bytes, name: str, content: bytes = b"\xd0\xcf\x11\xe0 macro") -> bytes:
    source = zipfile.ZipFile(io.BytesIO(package))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        target.writestr(name, content)
    return buffer.getvalue()


def without_member(package: bytes, name: str) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(package))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            if item.filename != name:
                target.writestr(item, source.read(item.filename))
    return buffer.getvalue()


def odt_declaring(mimetype: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", "<office:document-content/>")
    return buffer.getvalue()


@pytest.mark.parametrize(("label", "content"), [
    # E24: the document's own content type declared, and a VBA project beside it.
    ("docx + word/vbaProject.bin", with_member(docx_bytes(), "word/vbaProject.bin")),
    ("docx declaring a VBA part", docx_bytes(CONTENT_TYPES.replace("</Types>",
                                                                   VBA_TYPE + "</Types>"))),
    ("xlsx + xl/vbaProject.bin", with_member(xlsx_bytes(), "xl/vbaProject.bin")),
    ("odt + Basic macros", with_member(odt_bytes(), "Basic/Standard/Module1.xml",
                                       b"<script:module/>")),
    # Boundaries of the judgement.
    ("docx without word/document.xml", without_member(docx_bytes(), "word/document.xml")),
    ("odf with an invented mimetype", odt_declaring("application/x-ejecutable")),
    ("odf with an empty mimetype", odt_declaring("")),
    ("xlsx without xl/workbook.xml", without_member(xlsx_bytes(), "xl/workbook.xml")),
    ("docx type declared, only a workbook inside",
     with_member(without_member(docx_bytes(), "word/document.xml"), "xl/workbook.xml",
                 b"<workbook/>")),
    # Every ODF type but the two allowed ones, and near-misses of the allowed names.
    ("odp (presentation)", odt_declaring("application/vnd.oasis.opendocument.presentation")),
    ("ott (text template)", odt_declaring("application/vnd.oasis.opendocument.text-template")),
    ("odm (master document)", odt_declaring("application/vnd.oasis.opendocument.text-master")),
    ("odg (drawing)", odt_declaring("application/vnd.oasis.opendocument.graphics")),
    ("odt name as a prefix", odt_declaring("application/vnd.oasis.opendocument.textx")),
    ("odt name in upper case", odt_declaring("APPLICATION/VND.OASIS.OPENDOCUMENT.TEXT")),
    ("odf with the mimetype but no content.xml",
     without_member(odt_bytes(), "content.xml")),
])
def test_packages_that_are_not_safe_documents_are_not_accepted(label: str,
                                                              content: bytes) -> None:
    assert sniff(io.BytesIO(content)) is None, label


def test_the_clean_packages_still_are() -> None:
    assert sniff(io.BytesIO(docx_bytes())) is DOCX
    assert sniff(io.BytesIO(xlsx_bytes())) is XLSX
    assert sniff(io.BytesIO(odt_bytes())) is ODT
    assert sniff(io.BytesIO(odt_declaring(ODS.mime))) is ODS


@pytest.mark.parametrize(("typed", "shown"), [
    ("x\u202efdp.exe", "xfdp.exe"),          # right-to-left override: «xexe.pdf» on screen
    ("acta\u2066 final\u2069.pdf", "acta final.pdf"),
    ("\u200fPlan\u200e.docx", "Plan.docx"),
    ("informe\u061c.pdf", "informe.pdf"),
])
def test_bidi_controls_are_removed_from_display_names(typed: str, shown: str) -> None:
    assert display_name(typed) == shown


def test_an_upload_named_with_a_right_to_left_override_shows_its_real_name(
        web: WebClient, db: Session, make: Factory) -> None:
    ruta, rector = rector_with_ruta(db, make)
    web.login(rector.email)

    response = upload(web, ruta, ruta.catalog.componentes[0].id, PDF_BYTES, "x\u202efdp.exe")
    macro = upload(web, ruta, ruta.catalog.componentes[0].id,
                   with_member(docx_bytes(), "word/vbaProject.bin"), "acta.docx")

    assert response.status_code == 302
    db.expire_all()
    assert db.scalars(select(EvidenceFile.display_name)).all() == ["xfdp.exe"]
    stored = db.scalars(select(EvidenceFile)).one()
    download = web.client.get(f"/rutas/{ruta.id}/evidencias/{stored.id}")
    download.close()
    # S31: the download replaces the page's policy but keeps its frame and base rules.
    policy = download.headers["Content-Security-Policy"]
    assert {"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'",
            "sandbox"} <= {part.strip() for part in policy.split(";")}
    assert macro.status_code == 422
    assert "no es de un tipo permitido" in macro.get_data(as_text=True)


@pytest.mark.postgres
def test_two_uploads_at_once_never_exceed_the_schools_quota(
        backend: str, app: Any, db: Session, make: Factory, tmp_path: Path) -> None:
    """S30: each file fits in the free space, both together do not. Before, both were
    stored (the quota checked, then inserted, by each upload without seeing the other)."""
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")
    ruta, _ = rector_with_ruta(db, make)
    ruta_id = ruta.id
    factory = app.extensions["ruta_db"].session_factory
    limits = Limits(max_bytes=10_000, quota_bytes=10_000)
    content = PDF_BYTES + b"%" * (6_000 - len(PDF_BYTES))
    ready = threading.Barrier(2)

    def upload_in(tab: int) -> str:
        with factory() as session:
            mine = session.get(Ruta, ruta_id)
            ready.wait()
            store_file(session, LocalStorage(tmp_path / f"blobs{tab}"), ruta=mine,
                       uploaded_by=None, filename=f"acta{tab}.pdf",
                       stream=io.BytesIO(content), limits=limits)
            # Hold the transaction a moment, as a request does before it commits.
            time.sleep(0.2)
            session.commit()
            return "guardado"

    results = run_together(lambda: upload_in(1), lambda: upload_in(2))

    assert sorted(type(result).__name__ for result in results) == ["TooLarge", "str"]
    db.expire_all()
    sizes = db.scalars(select(EvidenceFile.size)).all()
    assert sizes == [len(content)]
