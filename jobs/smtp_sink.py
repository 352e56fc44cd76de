"""A local SMTP server that accepts every message and keeps it: ``make run``'s mail server.

    python -m jobs.smtp_sink --port 8025 --dir instance/correo

Each message is stored as one ``.eml`` file (readable with any mail client or a text
editor), with the envelope's recipients in an ``X-Recibido-Para`` header first, since
copies and blind copies are not all visible in the message's own headers. Development
configuration (``RUTA_ENV=development``) already sends to 127.0.0.1:8025 without TLS.
It listens on loopback only by default. Not for production: it relays nothing.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from types import FrameType
from typing import Any

from aiosmtpd.controller import Controller


class StoringHandler:
    """aiosmtpd handler: every message becomes a file in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def _path(self) -> Path:
        with self._lock:
            number = next(self._numbers)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return self.directory / f"{stamp}-{number:05d}.eml"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        recipients = ", ".join(envelope.rcpt_tos)
        path = self._path()
        path.write_bytes(f"X-Recibido-Para: {recipients}\r\n".encode() + content)
        subject = message_from_bytes(content, policy=policy.default).get("Subject",
                                                                         "(sin asunto)")
        print(f"Correo recibido para {recipients}: «{subject}» → {path}", flush=True)
        return "250 Mensaje recibido"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.smtp_sink",
        description="Servidor SMTP local que guarda cada mensaje recibido (desarrollo).")
    parser.add_argument("--host", default="127.0.0.1", help="Dirección donde escuchar.")
    parser.add_argument("--port", type=int, default=8025, help="Puerto donde escuchar.")
    parser.add_argument("--dir", default="instance/correo", type=Path,
                        help="Carpeta donde guardar los mensajes (.eml).")
    options = parser.parse_args(argv)

    controller = Controller(StoringHandler(options.dir), hostname=options.host,
                            port=options.port)
    try:
        controller.start()
    except OSError as error:
        print(f"No se pudo abrir el puerto {options.host}:{options.port}: {error}",
              file=sys.stderr, flush=True)
        return 1
    print(f"Servidor SMTP de prueba escuchando en {options.host}:{options.port}; guarda los "
          f"mensajes en {options.dir}", flush=True)

    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        controller.stop()
    print("Servidor SMTP de prueba detenido.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
