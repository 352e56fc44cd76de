"""Evidence files of a Ruta: the upload machinery the forms with files share, and download.

The autoevaluación's uploads are its blueprint's (the proceso form, and the single-file
route for scripts); the seguimiento's are the seguimiento blueprint's; both use the helpers
here.

The upload route allows a bigger body than the rest of the app (``EVIDENCE_MAX_BYTES``), and
refuses an announced size over it before reading anything: its CSRF check runs in the view's
own decorator, after the limit is raised, because the app-wide check parses the form (and
would apply the app-wide limit) before any view runs. ``form_upload_limits`` does the same for
a form that carries typed values and several files (the área page's proceso form): its body
may be several times the file limit, so a file over the limit still arrives, is refused by
itself, and the typed values around it are shown again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    current_app,
    request,
    send_file,
)
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from blueprints.access import ALL_ROLES, roles_required
from blueprints.access import current_actor as _actor
from ruta.db import db_session
from ruta.security import FILE_CONTENT_SECURITY_POLICY, csrf
from workflow.autoevaluacion.evidence import files_by_componente
from workflow.evidencias import storage as evidence
from workflow.evidencias.models import EvidenceFile
from workflow.evidencias.scanner import Clamd, ScanningStorage
from workflow.models import Ruta
from workflow.scoping import get_in_scope

bp = Blueprint("evidencias", __name__)

# Room for the multipart envelope and the small fields around the file.
FORM_OVERHEAD = 64 * 1024

View = TypeVar("View", bound=Callable[..., Any])


def storage() -> evidence.Storage:
    """The configured storage: one set on the app (an S3 client, say) or the local folder;
    behind clamd when CLAMD_SOCKET is set (every upload scanned before it is stored)."""
    store = _unscanned_storage()
    address = current_app.config.get("CLAMD_SOCKET")
    if not address:
        return store
    return ScanningStorage(
        store, Clamd(address, timeout=float(current_app.config["CLAMD_TIMEOUT_SECONDS"])),
        refuse_unscanned=current_app.config["CLAMD_UNREACHABLE"] != "accept")


def _unscanned_storage() -> evidence.Storage:
    configured = current_app.extensions.get("ruta_evidence_storage")
    if configured is not None:
        return configured  # type: ignore[no-any-return]
    if current_app.config.get("EVIDENCE_STORAGE") == "s3":
        from workflow.evidencias.s3 import from_config

        # One client per app: building one costs tens of milliseconds; it is thread-safe.
        built = from_config(current_app.config)
        current_app.extensions["ruta_evidence_storage"] = built
        return built
    return evidence.LocalStorage(current_app.config["EVIDENCE_FOLDER"])


def limits() -> evidence.Limits:
    return evidence.Limits(max_bytes=current_app.config["EVIDENCE_MAX_BYTES"],
                           quota_bytes=current_app.config["EVIDENCE_QUOTA_BYTES_PER_SCHOOL"])


def _too_large() -> evidence.TooLarge:
    return evidence.TooLarge(
        f"El archivo supera el límite de {evidence.megabytes(limits().max_bytes)}: redúzcalo "
        "e inténtelo de nuevo.")


def posted_file() -> FileStorage | None:
    """The file posted as «archivo» (None when there is none); past the limit, 413."""
    try:
        return request.files.get("archivo")
    except RequestEntityTooLarge:
        raise _too_large() from None


def commit_upload(store: evidence.Storage, added: EvidenceFile) -> None:
    """Commit the new evidence row; if the commit fails, the stored blob goes too, so no file
    is left behind that no row names."""
    commit_uploads(store, [added])


def commit_uploads(store: evidence.Storage, added: Sequence[EvidenceFile],
                   commit: Callable[[], None] | None = None) -> None:
    """Commit (with ``commit``, by default the session's own); if the commit fails, every
    blob of ``added`` is deleted, so no file is left behind that no row names."""
    database = db_session()
    try:
        if commit is None:
            database.commit()
        else:
            commit()
    except BaseException:
        database.rollback()
        for item in added:
            store.delete(item.storage_key)
        raise


# How many files at the limit the proceso form's body may carry (besides its fields).
FORM_FILES_ALLOWANCE = 6


def _body_limits(allowed_bytes: Callable[[], int], too_large: Callable[[], evidence.TooLarge]
                 ) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            allowed = allowed_bytes()
            request.max_content_length = allowed
            if request.content_length is not None and request.content_length > allowed:
                raise too_large()
            if current_app.config.get("WTF_CSRF_ENABLED", True):
                try:
                    csrf.protect()
                except RequestEntityTooLarge:
                    raise too_large() from None
            return view(*args, **kwargs)

        csrf.exempt(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


def upload_limits(view: View) -> View:
    """Raise this request's body limit to the evidence limit, refuse a bigger announced body
    at once, then check CSRF (exempted from the app-wide check, which would parse first)."""
    return _body_limits(lambda: limits().max_bytes + FORM_OVERHEAD, _too_large)(view)


def form_body_limit() -> int:
    return limits().max_bytes * FORM_FILES_ALLOWANCE + FORM_OVERHEAD


def _form_too_large() -> evidence.TooLarge:
    return evidence.TooLarge(
        f"Lo enviado supera {evidence.megabytes(form_body_limit())} en total y no se pudo "
        "leer: no se guardó nada. Vuelva a la página anterior (sus textos siguen allí en la "
        f"mayoría de los navegadores) y elija archivos de hasta "
        f"{evidence.megabytes(limits().max_bytes)} cada uno.")


def form_upload_limits(view: View) -> View:
    """``upload_limits`` for a form with typed values and several files: room for
    ``FORM_FILES_ALLOWANCE`` files at the limit, so one file over it is still read, refused
    alone, and the form shown again with everything typed."""
    return _body_limits(form_body_limit, _form_too_large)(view)


def posted_files(names: Sequence[str]) -> dict[str, FileStorage]:
    """The files posted under ``names`` that the person chose (a named file input left
    empty is absent); past the body limit, 413."""
    try:
        found = {name: request.files.get(name) for name in names}
    except RequestEntityTooLarge:
        raise _form_too_large() from None
    return {name: item for name, item in found.items() if item is not None and item.filename}


@bp.get("/rutas/<int:ruta_id>/evidencias/<int:evidence_id>")
@roles_required(*ALL_ROLES)
def download(ruta_id: int, evidence_id: int) -> Response:
    database = db_session()
    ruta = get_in_scope(database, _actor(), Ruta, ruta_id)
    found = evidence.get_file(database, ruta, evidence_id)
    response = send_file(storage().open(found.storage_key), mimetype=found.content_type,
                         as_attachment=True, download_name=evidence.download_name(found),
                         conditional=False, etag=False, max_age=0)
    response.content_length = found.size
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    # Opened directly, a file must not run anything in our origin.
    response.headers["Content-Security-Policy"] = f"{FILE_CONTENT_SECURITY_POLICY}; sandbox"
    return response


@bp.app_template_global("evidence_files")
def _evidence_files(ruta: Ruta) -> dict[int, list[EvidenceFile]]:
    """The autoevaluación files of ``ruta`` by componente (the área page lists them)."""
    return files_by_componente(db_session(), ruta)


@bp.app_context_processor
def _evidence_labels() -> dict[str, str]:
    return {"evidence_allowed_label": evidence.ALLOWED_LABEL,
            "evidence_max_label": evidence.megabytes(limits().max_bytes),
            "evidence_max_bytes": limits().max_bytes}


@bp.app_template_filter("megabytes")
def _megabytes(size: int) -> str:
    return evidence.megabytes(size)
