"""Every error answers with a Spanish page and the right status; never a stack trace."""

from __future__ import annotations

import logging
import re

from flask import Flask, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

import ruta.resume as resume
from ruta.db import db_session
from workflow.errors import DomainError, GuardFailed, StaleRuta, Unavailable

log = logging.getLogger(__name__)

TITLES = {
    400: "La solicitud no es válida",
    401: "No pudimos verificar su identidad",
    403: "No tiene permiso para esta acción",
    404: "No encontramos esa página",
    405: "Esa acción no se hace así",
    409: "La Ruta cambió",
    413: "El archivo o el formulario es demasiado grande",
    422: "Todavía no se puede",
    429: "Demasiados intentos",
    500: "Algo salió mal de nuestro lado",
    503: "El servicio no está disponible en este momento",
}

MESSAGES = {
    400: "Revise los datos y vuelva a intentarlo.",
    401: "Ingrese de nuevo para continuar.",
    403: "Su rol no le permite hacer esto. Si cree que es un error, escriba a la Secretaría.",
    404: "La dirección no existe o no está a su alcance.",
    405: "Vuelva a la página anterior y use los botones de la página.",
    413: "Reduzca el tamaño de lo que envía e inténtelo de nuevo.",
    429: "Espere unos minutos e inténtelo de nuevo.",
    500: "El error quedó registrado. Inténtelo de nuevo en unos minutos; si persiste, escriba "
         "a la mesa de ayuda de la Secretaría.",
}


def _render(status: int, message: str | None = None, **context: object) -> tuple[str, int]:
    title = TITLES.get(status, TITLES[400])
    message = message or MESSAGES.get(status, MESSAGES[400])
    try:
        return render_template("errors/error.html", status=status, title=title,
                               message=message, **context), status
    except Exception:
        # The full page loads the signed-in user: with the database down that fails too. The
        # plain page is rendered without context processors, which would load the user again.
        log.exception("The error page failed; answering with the plain one")
        _rollback()
        plain = current_app.jinja_env.get_template("errors/plain.html")
        return plain.render(status=status, title=title, message=message), status


def _record_denial(status: int) -> None:
    """A 403 or 404 answered to a signed-in person goes to the security log (someone probing
    other schools' pages shows there). Never in the way of the error page itself."""
    if status not in (403, 404):
        return
    try:
        from flask_login import current_user

        from ruta.security import log_event

        if current_user.is_authenticated:
            log_event("access_denied", actor=current_user._get_current_object(),
                      outcome="denied", detail={"status": status, "method": request.method,
                                                "path": request.path[:300]})
    except Exception:
        log.exception("Could not record a denial in the security log")


def _rollback() -> None:
    try:
        db_session().rollback()
    except Exception:  # the database itself may be what failed
        log.exception("Rollback after an error failed")


def _interrupted_post() -> tuple[str, int] | None:
    """A signed-in person's form whose session ended or changed keeps its values
    (ruta.resume); the sign-in-again page itself, posted from an ended session, is drawn again
    with what it carries."""
    if request.endpoint == "sesion.resume" and request.method == "POST":
        carried = resume.read_resume(request.form)
        if carried is not None:
            return resume.render_sign_in_again(
                carried, email=request.form.get("email", "")[:254],
                error="La página estuvo abierta mucho tiempo o su sesión cambió: escriba su "
                      "contraseña otra vez.", status=400)
    return resume.answer_interrupted_post()


RETRY_AFTER_SECONDS = 30
SECRET_FIELD = re.compile(r"password|contrasena|contraseña|clave", re.IGNORECASE)
DATABASE_DOWN = ("La base de datos no respondió (se está reiniciando o hay un corte). No se "
                 "guardó nada; inténtelo de nuevo en unos segundos.")


def _unavailable(message: str) -> tuple[str, int, dict[str, str]]:
    """503 with ``Retry-After``: a page drawn without the database (nothing else may work)
    that keeps a posted form's values, ready to send again, and names the lost attachments."""
    _rollback()
    posted = request.method == "POST"
    # Passwords are never written back into a page: the person types them again.
    fields = [(name, value) for name, value in resume.carried_fields(request.form)
              if not SECRET_FIELD.search(name)] if posted else []
    files = sorted({name for name, upload in request.files.items(multi=True)
                    if upload.filename}) if posted else []
    page = current_app.jinja_env.get_template("errors/no_disponible.html").render(
        title=TITLES[503], message=message, fields=fields, files=files,
        action=request.full_path.removesuffix("?"),
        csrf_value=request.form.get(resume.CSRF_FIELD, "") if posted else "")
    return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}


def init_app(app: Flask) -> None:
    resume.init_app(app)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_down(error: Exception) -> tuple[str, int, dict[str, str]]:
        log.warning("The database did not answer on %s %s: %s", request.method, request.path,
                    error)
        return _unavailable(DATABASE_DOWN)

    @app.errorhandler(Unavailable)
    def _storage_down(error: Unavailable) -> tuple[str, int, dict[str, str]]:
        log.warning("Unavailable on %s %s: %s", request.method, request.path,
                    error.__cause__ or error)
        return _unavailable(error.message)

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> tuple[str, int]:
        carried = _interrupted_post()
        if carried is not None:
            return carried
        return _render(400, "El formulario venció o no vino de esta página. Recargue la página "
                            "e inténtelo de nuevo.")

    @app.errorhandler(StaleRuta)
    def _stale(error: StaleRuta) -> tuple[str, int]:
        db_session().rollback()
        return _render(409, error.message, ruta_id=error.ruta_id)

    @app.errorhandler(GuardFailed)
    def _guard(error: GuardFailed) -> tuple[str, int]:
        db_session().rollback()
        return _render(422, error.message, reasons=error.reasons)

    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> tuple[str, int]:
        db_session().rollback()
        _record_denial(error.status)
        return _render(error.status, error.message)

    @app.errorhandler(DataError)
    def _data(error: DataError) -> tuple[str, int]:
        # Input the database refuses (a NUL in a multipart field, a number out of range):
        # bad input, not a fault of ours.
        log.info("Data the database refused on %s %s: %s", request.method, request.path,
                 error.orig)
        _rollback()
        return _render(400, "Lo enviado contiene un dato que la base de datos no acepta (por "
                            "ejemplo, un carácter nulo o un número demasiado grande): no se "
                            "guardó nada. Revíselo y vuelva a intentarlo.")

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> tuple[str, int]:
        status = error.code or 500
        _record_denial(status)
        return _render(status if status in TITLES else 400)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[str, int]:
        log.exception("Unhandled error on %s %s", request.method, request.path)
        _rollback()
        return _render(500)
