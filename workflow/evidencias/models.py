"""The evidence file table and the file types a file may be.

``evidence_files`` holds one row per stored file; its ``content_type`` is the MIME type of one
of the allowed ``FileType`` values. Recognising a file's type by its content, checking,
storing and fetching files are ``workflow.evidencias.storage``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow.models import Base, User, utcnow

MAX_NAME = 200


@dataclass(frozen=True)
class FileType:
    mime: str
    extension: str
    label: str


PDF = FileType("application/pdf", "pdf", "PDF")
PNG = FileType("image/png", "png", "imagen PNG")
JPEG = FileType("image/jpeg", "jpg", "imagen JPEG")
DOCX = FileType("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "docx", "documento de Word")
XLSX = FileType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "xlsx", "hoja de cálculo de Excel")
PPTX = FileType("application/vnd.openxmlformats-officedocument.presentationml.presentation",
                "pptx", "presentación de PowerPoint")
ODT = FileType("application/vnd.oasis.opendocument.text", "odt", "documento de OpenDocument")
ODS = FileType("application/vnd.oasis.opendocument.spreadsheet", "ods",
               "hoja de cálculo de OpenDocument")
ALLOWED_TYPES = (PDF, PNG, JPEG, DOCX, XLSX, PPTX, ODT, ODS)
ALLOWED_BY_MIME = {file_type.mime: file_type for file_type in ALLOWED_TYPES}


class EvidenceFile(Base):
    """One uploaded file. ``valoracion_id`` attaches it to a valoración of the
    autoevaluación; the seguimiento reports will attach theirs with a column of their own.
    """

    __tablename__ = "evidence_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    valoracion_id: Mapped[int | None] = mapped_column(ForeignKey("valoraciones.id"),
                                                      index=True)
    follow_up_report_id: Mapped[int | None] = mapped_column(
        ForeignKey("follow_up_reports.id"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    display_name: Mapped[str] = mapped_column(String(MAX_NAME))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    uploaded_by: Mapped[User | None] = relationship()

    __table_args__ = (
        CheckConstraint("size > 0", name="size_positive"),
        CheckConstraint("length(sha256) = 64", name="sha256_length"),
    )

    @property
    def type_label(self) -> str:
        found = ALLOWED_BY_MIME.get(self.content_type)
        return found.label if found else self.content_type
