"""Malware scanning of evidence uploads through clamd (ClamAV's daemon), optional.

With ``CLAMD_SOCKET`` set (a Unix socket path, or ``host:port``), every evidence file is
streamed to clamd with its INSTREAM command before it is stored: ``zINSTREAM\\0``, then the
bytes in chunks (each a 4-byte big-endian length and the data), then a zero length; clamd
answers ``stream: OK`` or ``stream: <Signature> FOUND``. ``ScanningStorage`` wraps the
evidence storage so that every caller of ``store_file`` is covered and nothing reaches the
store before the verdict: an infected file is refused (``InvalidInput``, naming the
signature, and a log line); when clamd does not answer, the upload is refused with a 503
(``Unavailable``) unless ``CLAMD_UNREACHABLE=accept`` says to store unscanned files (with a
log line each). Without ``CLAMD_SOCKET`` nothing is scanned.

This module imports nothing from Flask.
"""

from __future__ import annotations

import logging
import socket
import struct
from dataclasses import dataclass
from typing import BinaryIO

from workflow.errors import InvalidInput, Unavailable

log = logging.getLogger("ruta.evidencias.antivirus")

CHUNK = 64 * 1024
SCANNER_DOWN = ("No se pudo revisar el archivo contra virus: el antivirus de la Secretaría no "
                "responde en este momento. No se guardó nada; inténtelo de nuevo en unos "
                "minutos y, si sigue igual, avise a la Secretaría.")


class ScannerError(Exception):
    """clamd could not be reached or gave no verdict."""


@dataclass(frozen=True)
class Clamd:
    """A clamd endpoint: ``/run/clamav/clamd.ctl`` (Unix socket) or ``host:port`` (TCP)."""

    address: str
    timeout: float = 30.0

    def _connect(self) -> socket.socket:
        try:
            if "/" in self.address:
                connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    connection.settimeout(self.timeout)
                    connection.connect(self.address)
                except OSError:
                    connection.close()
                    raise
                return connection
            host, _, port = self.address.rpartition(":")
            return socket.create_connection((host.strip("[]"), int(port)),
                                            timeout=self.timeout)
        except (OSError, ValueError) as error:
            raise ScannerError(f"{self.address}: {error}") from error

    @staticmethod
    def _reply(connection: socket.socket) -> str:
        received = b""
        while not received.endswith(b"\0"):
            part = connection.recv(4096)
            if not part:
                break
            received += part
        return received.rstrip(b"\0").decode("utf-8", "replace").strip()

    def ping(self) -> bool:
        try:
            with self._connect() as connection:
                connection.sendall(b"zPING\0")
                return self._reply(connection) == "PONG"
        except (OSError, ScannerError):
            return False

    def scan(self, stream: BinaryIO) -> str | None:
        """The signature found in ``stream`` (read to its end), or None when clean."""
        try:
            with self._connect() as connection:
                connection.sendall(b"zINSTREAM\0")
                while chunk := stream.read(CHUNK):
                    connection.sendall(struct.pack(">I", len(chunk)) + chunk)
                connection.sendall(struct.pack(">I", 0))
                reply = self._reply(connection)
        except OSError as error:
            raise ScannerError(f"{self.address}: {error}") from error
        if reply.endswith(" FOUND"):
            return reply.removeprefix("stream:").removesuffix(" FOUND").strip() or "desconocida"
        if reply == "stream: OK":
            return None
        raise ScannerError(f"{self.address}: respuesta inesperada: {reply[:200]!r}")


class ScanningStorage:
    """An evidence ``Storage`` that has clamd look at each file before ``put`` stores it."""

    def __init__(self, inner: object, scanner: Clamd, *, refuse_unscanned: bool = True) -> None:
        self.inner = inner
        self.scanner = scanner
        self.refuse_unscanned = refuse_unscanned

    def put(self, stream: BinaryIO) -> str:
        start = stream.tell()
        try:
            signature = self.scanner.scan(stream)
        except ScannerError as error:
            if self.refuse_unscanned:
                log.error("evidencia rechazada: el antivirus no responde (%s)", error)
                raise Unavailable(SCANNER_DOWN) from error
            log.warning("evidencia guardada sin revisar: el antivirus no responde (%s)", error)
            signature = None
        if signature is not None:
            log.warning("evidencia rechazada: el antivirus encontró %s", signature)
            raise InvalidInput({"archivo": [
                f"El antivirus encontró «{signature}» en el archivo: no se guardó. Revise el "
                "equipo donde lo tenía y suba una copia limpia."]})
        stream.seek(start)
        return self.inner.put(stream)  # type: ignore[attr-defined, no-any-return]

    def open(self, key: str) -> BinaryIO:
        return self.inner.open(key)  # type: ignore[attr-defined, no-any-return]

    def delete(self, key: str) -> None:
        self.inner.delete(key)  # type: ignore[attr-defined]

    def check(self) -> str | None:
        return self.inner.check()  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        # What a particular store offers beyond the protocol (``sweep_partials``).
        return getattr(self.inner, name)
