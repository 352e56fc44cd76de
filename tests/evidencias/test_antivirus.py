"""S29: evidence uploads pass through clamd (INSTREAM) before they are stored, when set up.

A small clamd stand-in runs on loopback in a thread: it speaks INSTREAM and PING as clamd
does and flags the EICAR test string.
"""

from __future__ import annotations

import io
import logging
import socketserver
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ruta.doctor import _scanner
from tests.conftest import Factory, WebClient
from tests.evidencias.test_evidence import PDF_BYTES, folder, rector_with_ruta, upload
from tests.smtp import closed_port
from workflow.evidencias.models import EvidenceFile
from workflow.evidencias.scanner import Clamd, ScannerError

__all__ = ["folder"]  # a fixture

# The standard antivirus test file (harmless), in two halves so this source is not flagged.
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")


class _Clamd(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        command = b""
        while not command.endswith(b"\0"):
            part = self.request.recv(1)
            if not part:
                return
            command += part
        if command == b"zPING\0":
            self.request.sendall(b"PONG\0")
            return
        assert command == b"zINSTREAM\0", command
        received = b""
        while True:
            length = struct.unpack(">I", self._exactly(4))[0]
            if length == 0:
                break
            received += self._exactly(length)
        self.server.scanned.append(received)  # type: ignore[attr-defined]
        verdict = b"stream: Eicar-Signature FOUND\0" if EICAR in received else b"stream: OK\0"
        self.request.sendall(verdict)

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            part = self.request.recv(size - len(data))
            if not part:
                raise ConnectionError("cut")
            data += part
        return data


class FakeClamd(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Clamd)
        self.scanned: list[bytes] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def clamd() -> Iterator[FakeClamd]:
    server = FakeClamd()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def stored(db: Session, folder: Path) -> tuple[int, list[Path]]:
    db.expire_all()
    rows = db.scalar(select(func.count()).select_from(EvidenceFile)) or 0
    return rows, [path for path in folder.rglob("*") if path.is_file()]


def signed_in(web: WebClient, db: Session, make: Factory) -> Any:
    ruta, rector = rector_with_ruta(db, make)
    web.login(rector.email)
    return ruta


def test_an_infected_upload_is_refused_naming_the_signature_and_nothing_is_stored(
        app: Flask, web: WebClient, db: Session, make: Factory, folder: Path,
        clamd: FakeClamd, caplog: pytest.LogCaptureFixture) -> None:
    app.config["CLAMD_SOCKET"] = clamd.address
    ruta = signed_in(web, db, make)
    componente = ruta.catalog.componentes[0].id

    with caplog.at_level(logging.WARNING, logger="ruta.evidencias.antivirus"):
        refused = upload(web, ruta, componente, PDF_BYTES + EICAR, "acta.pdf")

    assert refused.status_code == 422
    assert "El antivirus encontró «Eicar-Signature» en el archivo: no se guardó." in (
        refused.get_data(as_text=True))
    assert stored(db, folder) == (0, [])
    assert "evidencia rechazada: el antivirus encontró Eicar-Signature" in caplog.text

    clean = upload(web, ruta, componente, PDF_BYTES, "acta.pdf")
    assert clean.status_code == 302
    assert clamd.scanned == [PDF_BYTES + EICAR, PDF_BYTES]  # every byte went to clamd
    rows, files = stored(db, folder)
    assert rows == 1 and [path.read_bytes() for path in files] == [PDF_BYTES]


def test_an_unreachable_scanner_refuses_uploads_unless_told_to_accept(
        app: Flask, web: WebClient, db: Session, make: Factory, folder: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    app.config.update(CLAMD_SOCKET=f"127.0.0.1:{closed_port()}", CLAMD_TIMEOUT_SECONDS=2)
    ruta = signed_in(web, db, make)
    componente = ruta.catalog.componentes[0].id

    refused = upload(web, ruta, componente, PDF_BYTES)
    assert refused.status_code == 503
    assert "el antivirus de la Secretaría no responde" in refused.get_data(as_text=True)
    assert stored(db, folder) == (0, [])

    app.config["CLAMD_UNREACHABLE"] = "accept"
    with caplog.at_level(logging.WARNING, logger="ruta.evidencias.antivirus"):
        assert upload(web, ruta, componente, PDF_BYTES).status_code == 302
    assert stored(db, folder)[0] == 1
    assert "evidencia guardada sin revisar: el antivirus no responde" in caplog.text


def test_clamd_over_a_unix_socket_and_its_odd_answers(tmp_path: Path) -> None:
    path = str(tmp_path / "clamd.ctl")
    server = socketserver.ThreadingUnixStreamServer(path, _Clamd)
    server.scanned = []  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        scanner = Clamd(path, timeout=5)
        assert scanner.ping() is True
        assert scanner.scan(io.BytesIO(b"x" * 200_000)) is None
        assert scanner.scan(io.BytesIO(EICAR)) == "Eicar-Signature"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    with pytest.raises(ScannerError):
        Clamd(path, timeout=1).scan(io.BytesIO(b"x"))
    assert Clamd("sin-puerto", timeout=1).ping() is False


def test_doctor_reports_the_scanner_only_when_configured(clamd: FakeClamd) -> None:
    config = {"CLAMD_SOCKET": clamd.address, "CLAMD_TIMEOUT_SECONDS": 5,
              "CLAMD_UNREACHABLE": "refuse"}
    assert _scanner({**config, "CLAMD_SOCKET": None}) is None
    found = _scanner(config)
    assert found is not None and (found.ok, found.detail) == (
        True, f"clamd en {clamd.address} responde")
    down = _scanner({**config, "CLAMD_SOCKET": f"127.0.0.1:{closed_port()}"})
    assert down is not None and not down.ok
    assert "no responde: mientras tanto las evidencias se rechazan" in down.detail
