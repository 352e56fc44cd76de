"""Evidence files: what a school uploads to back a valoración (and, later, a seguimiento report).

A file is accepted by what its bytes are, never by its name: PDF, PNG, JPEG and office
documents (OOXML and OpenDocument, recognised by their internal structure). It is copied in
bounded chunks to a temporary file, sniffed, checked against the size limit and the school's
quota, and only then handed to the storage under a generated key; the name the person gave is
kept for display only. Services flush, never commit; a view that fails to commit deletes the
stored blob so no orphan stays behind. The table and the file types are
``workflow.evidencias.models``'.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflow.errors import DomainError, InvalidInput, NotFound, Unavailable
from workflow.evidencias.models import (
    ALLOWED_BY_MIME,
    DOCX,
    JPEG,
    MAX_NAME,
    ODS,
    ODT,
    PDF,
    PNG,
    PPTX,
    XLSX,
    EvidenceFile,
    FileType,
)
from workflow.models import Ruta, School, User

CHUNK = 64 * 1024
# The head of a file is enough for every signature below.
HEAD = 8
MAX_ZIP_MEMBER_READ = 256 * 1024
MiB = 1024 * 1024


class TooLarge(DomainError):
    """Over the size limit or the school's quota: answered as 413 with the reason."""

    status = 413


ALLOWED_LABEL = "PDF, PNG, JPEG, Word (.docx), Excel (.xlsx), PowerPoint (.pptx), .odt u .ods"

# OOXML: the main part's content type in [Content_Types].xml and the part that must exist.
# Macro-enabled variants (.docm, .xlsm) declare other content types and are refused.
OOXML = (
    (DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
     "word/document.xml"),
    (XLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
     "xl/workbook.xml"),
    (PPTX, "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
     "ppt/presentation.xml"),
)
ODF = {ODT.mime: ODT, ODS.mime: ODS}


def _zip_member(archive: zipfile.ZipFile, name: str) -> bytes:
    # Bounded: a crafted archive cannot make us inflate a huge member.
    with archive.open(name) as member:
        return member.read(MAX_ZIP_MEMBER_READ)


def _has_macros(names: set[str], types: str = "") -> bool:
    """A package that carries macros, whatever its main part says: VBA in OOXML
    (``*/vbaProject.bin``, or its content type declared), Basic or scripts in ODF."""
    return (any(name.lower().endswith("vbaproject.bin") for name in names)
            or "vnd.ms-office.vbaProject" in types
            or any(name.startswith(("Basic/", "Scripts/")) for name in names))


def _sniff_zip(stream: BinaryIO) -> FileType | None:
    try:
        with zipfile.ZipFile(stream) as archive:
            names = set(archive.namelist())
            if "mimetype" in names and "content.xml" in names:
                if _has_macros(names):
                    return None
                declared = _zip_member(archive, "mimetype").decode("ascii", "replace").strip()
                return ODF.get(declared)
            if "[Content_Types].xml" in names:
                types = _zip_member(archive, "[Content_Types].xml").decode("utf-8", "replace")
                if _has_macros(names, types):
                    return None
                for file_type, main_type, main_part in OOXML:
                    if f'ContentType="{main_type}"' in types and main_part in names:
                        return file_type
    except (zipfile.BadZipFile, OSError, KeyError, RuntimeError, EOFError,
            NotImplementedError, ValueError):
        return None
    return None


def sniff(stream: BinaryIO) -> FileType | None:
    """The allowed type ``stream``'s content is, or None. Reads from the start; seekable."""
    stream.seek(0)
    head = stream.read(HEAD)
    stream.seek(0)
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"PK\x03\x04"):
        found = _sniff_zip(stream)
        stream.seek(0)
        return found
    return None


# --- names --------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def display_name(raw: str | None) -> str:
    """The name the person gave, fit to show; ``InvalidInput`` for a path-like one.

    The name is never used to store the file: refusing paths keeps anyone from believing it
    is, and keeps "../../etc/passwd" out of pages and downloads.
    """
    # Bidi controls (U+202E «right-to-left override» and kin) would make «x‮fdp.exe» show
    # as «xexe.pdf»: removed, never shown.
    name = unicodedata.normalize("NFC", _BIDI.sub("", raw or "").strip())
    if not name:
        raise InvalidInput({"archivo": ["Elija el archivo que quiere adjuntar."]})
    if ("/" in name or "\\" in name or ":" in name or _CONTROL.search(name)
            or name.startswith("..") or name == "."):
        raise InvalidInput({"archivo": [
            "El nombre del archivo no puede ser una ruta (sin «/», «\\», «..», «:» ni "
            "caracteres de control). Cámbiele el nombre e inténtelo de nuevo."]})
    return name[:MAX_NAME]


def download_name(evidence: EvidenceFile) -> str:
    """The display name, with the extension of what the file really is."""
    stem, dot, extension = evidence.display_name.rpartition(".")
    wanted = ALLOWED_BY_MIME[evidence.content_type].extension
    if dot and extension.lower() in {wanted, "jpeg"} and stem:
        return evidence.display_name
    return f"{evidence.display_name}.{wanted}"


# --- storage ------------------------------------------------------------------------------


class Storage(Protocol):
    """Where blobs live. Keys are generated by the storage, never derived from user input.

    ``LocalStorage`` is the default; an S3-compatible store (``put`` = PutObject under a
    random key, ``open`` = GetObject's body, ``delete`` = DeleteObject) is the production
    option for several web servers without a shared disk.
    """

    def put(self, stream: BinaryIO) -> str: ...

    def open(self, key: str) -> BinaryIO: ...

    def delete(self, key: str) -> None: ...

    def check(self) -> str | None:
        """What is wrong with the store, in Spanish, or None when it works (/salud)."""
        ...


KEY_PATTERN = re.compile(r"^[0-9a-f]{32}$")
STORE_FAILED = ("No se pudo guardar el archivo: el almacenamiento de evidencias no está "
                "disponible en este momento (por ejemplo, está lleno). No se guardó nada; "
                "inténtelo de nuevo en unos minutos y, si sigue igual, avise a la Secretaría.")
READ_FAILED = ("El almacenamiento de evidencias no está disponible en este momento: "
               "inténtelo de nuevo en unos minutos.")


class LocalStorage:
    """Blobs in a folder outside the web root, each under a random 128-bit name."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        if not KEY_PATTERN.fullmatch(key):
            raise NotFound("No encontramos ese archivo.")
        return self.folder / key[:2] / key

    def put(self, stream: BinaryIO) -> str:
        key = secrets.token_hex(16)
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{key}.part")
        stream.seek(0)
        try:
            with open(partial, "wb") as out:
                shutil.copyfileobj(stream, out, CHUNK)
            # Atomic on one filesystem: a reader never sees half a file under the key.
            os.replace(partial, target)
        except BaseException as error:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)  # a full disk leaves no half file behind
            if isinstance(error, OSError):
                raise Unavailable(STORE_FAILED) from error
            raise
        return key

    def sweep_partials(self, older_than: float, now: float) -> int:
        """Delete the ``.part`` files of uploads that died (a crash, a kill) and are older
        than ``older_than`` seconds; returns how many. Run at start-up."""
        removed = 0
        if not self.folder.is_dir():
            return 0
        for partial in self.folder.glob("*/.*.part"):
            try:
                if now - partial.stat().st_mtime > older_than:
                    partial.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def check(self) -> str | None:
        probe = self.folder / f".salud-{secrets.token_hex(4)}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as error:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)
            return f"no se puede escribir en la carpeta de evidencias ({error.strerror})"
        return None

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise NotFound("El archivo ya no está disponible.") from None
        except OSError as error:
            raise Unavailable(READ_FAILED) from error

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


# --- storing and fetching -----------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * MiB
    quota_bytes: int = 500 * MiB


def megabytes(size: int) -> str:
    return f"{size / MiB:.1f}".replace(".", ",") + " MB"


def used_bytes(session: Session, school_id: int) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(EvidenceFile.size), 0))
                              .where(EvidenceFile.school_id == school_id)) or 0)


def _spool(stream: BinaryIO, limits: Limits) -> tuple[BinaryIO, int, str]:
    """Copy ``stream`` to a temporary file in bounded chunks: (file, size, sha256)."""
    spooled = tempfile.TemporaryFile()  # noqa: SIM115  (returned open; the caller closes it)
    digest = hashlib.sha256()
    size = 0
    try:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limits.max_bytes:
                raise TooLarge(f"El archivo supera el límite de {megabytes(limits.max_bytes)}: "
                               "redúzcalo (por ejemplo, escanee a menor resolución o divídalo) "
                               "e inténtelo de nuevo.")
            digest.update(chunk)
            spooled.write(chunk)
    except BaseException:
        spooled.close()
        raise
    spooled.seek(0)
    return spooled, size, digest.hexdigest()


def store_file(session: Session, storage: Storage, *, ruta: Ruta, uploaded_by: User | None,
               filename: str | None, stream: BinaryIO, limits: Limits,
               valoracion_id: int | None = None) -> EvidenceFile:
    """Check and store one file for ``ruta``'s school; add its row (flushed).

    Side effects: a blob in ``storage`` (only when every check passed) and one row. On any
    refusal nothing is stored: ``InvalidInput`` (name, empty, type) or ``TooLarge`` (size,
    quota).
    """
    name = display_name(filename)
    spooled, size, sha256 = _spool(stream, limits)
    with spooled:
        if size == 0:
            raise InvalidInput({"archivo": ["El archivo está vacío."]})
        found = sniff(spooled)
        if found is None:
            raise InvalidInput({"archivo": [
                f"El contenido de «{name}» no es de un tipo permitido ({ALLOWED_LABEL}). Se "
                "revisa el contenido, no el nombre: guárdelo o expórtelo en uno de esos "
                "formatos."]})
        # The school's row locked until the upload commits: two uploads at once are
        # counted one after the other, never both against the same free space.
        # (FOR NO KEY UPDATE: rows that merely reference the school are not held up.)
        session.execute(select(School.id).where(School.id == ruta.school_id)
                        .with_for_update(key_share=True))
        used = used_bytes(session, ruta.school_id)
        if used + size > limits.quota_bytes:
            raise TooLarge(
                f"La institución ya usa {megabytes(used)} de {megabytes(limits.quota_bytes)} "
                f"para evidencias y este archivo ({megabytes(size)}) no cabe. Pida a la "
                "Secretaría más espacio.")
        key = storage.put(spooled)
    evidence = EvidenceFile(school_id=ruta.school_id, ruta_id=ruta.id,
                            valoracion_id=valoracion_id,
                            uploaded_by_id=uploaded_by.id if uploaded_by else None,
                            display_name=name, content_type=found.mime, size=size,
                            sha256=sha256, storage_key=key)
    session.add(evidence)
    try:
        session.flush()
    except BaseException:
        storage.delete(key)
        raise
    return evidence




def get_file(session: Session, ruta: Ruta, evidence_id: int) -> EvidenceFile:
    """A file of ``ruta`` (already loaded in the actor's scope); 404 for any other."""
    found = session.scalar(select(EvidenceFile).where(EvidenceFile.id == evidence_id,
                                                      EvidenceFile.ruta_id == ruta.id,
                                                      EvidenceFile.school_id == ruta.school_id))
    if found is None:
        raise NotFound("No encontramos ese archivo.")
    return found
